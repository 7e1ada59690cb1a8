"""T2I-CompBench: :mod:`.benchmark` (prompts, generation, BLIP-VQA / CLIPScore / UniDet
scoring), its detector :mod:`.unidet`, the per-image rules on its detections
:mod:`.unidet_rules` and the depth maps of 3d_spatial :mod:`.depth`."""

from evalsuite.capabilities.t2i_compbench.benchmark import T2ICompBench

__all__ = ["T2ICompBench"]
