"""GenEval: :mod:`.benchmark` (prompts, generation, the per-image rules and summary scores)
and its Mask2Former object detector :mod:`.detector`."""

from evalsuite.capabilities.geneval.benchmark import GenEval

__all__ = ["GenEval"]
