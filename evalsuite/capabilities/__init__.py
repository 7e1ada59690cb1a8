"""Capability benchmarks: what a policy (:mod:`evalsuite.policies`) is scored on.

* Answering (VLM policies): :mod:`~evalsuite.capabilities.mmbench` (CircularEval, VLMEvalKit),
  :mod:`~evalsuite.capabilities.videomme` (lmms-eval's scoring), both reading the chosen option
  with :mod:`~evalsuite.capabilities.letters`; :mod:`~evalsuite.capabilities.lmms_eval_bridge`
  runs any lmms-eval task.
* Generation (diffusers policies): :mod:`~evalsuite.capabilities.t2i_compbench`,
  :mod:`~evalsuite.capabilities.geneval`, :mod:`~evalsuite.capabilities.unigenbench` (images)
  and :mod:`~evalsuite.capabilities.vbench` (videos). A benchmark with its own scorer networks
  is a subpackage: the benchmark module next to the networks it loads.

Each is a :class:`evalsuite.policies.base.PolicyBenchmark`, registered by name in
:mod:`evalsuite.registry` (``BENCHMARKS``); importing this package loads nothing heavy.
"""
