"""VBench: :mod:`.suite` (the prompt suite, generation, scoring of the 16 dimensions and the
Quality / Semantic / Total scores), :mod:`.formulas` (the dimension formulas, pure functions)
and :mod:`.networks` (the scorer networks re-implemented from their upstream checkpoints)."""

from evalsuite.capabilities.vbench.suite import VBench

__all__ = ["VBench"]
