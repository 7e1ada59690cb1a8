"""Benchmarks' own (official) evaluation protocols, kept apart from the harness metrics.

* :mod:`evalsuite.protocols.genai_bench` - GenAI-Bench's 4-way ``[[A>B]]`` verdicts, its
  prompt templates and matching rule (leaderboard split ``test_v1``).
* :mod:`evalsuite.protocols.vlrewardbench` - VL-RewardBench's k-sample majority vote
  (``official``) and our deterministic single-answer mode (``greedy``).

* :mod:`evalsuite.protocols.rescore` - saved judge answers (which file format, how each is
  read) scored under one of these; ``evalsuite rescore`` runs it.
"""

# bench name -> protocol names it supports (the first is the default).
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "genai-bench": ("official",),
    "genai-bench-edit": ("official",),
    "genai-bench-video": ("official",),
    "vlrewardbench": ("official", "greedy"),
}
