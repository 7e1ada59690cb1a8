"""Policies (models that answer or generate) and the policy run.

* Policies: :mod:`evalsuite.policies.vlm` (Qwen2.5-VL multiple-choice answering, batched
  greedy generation, left padding), :mod:`evalsuite.policies.diffusion` (diffusers
  text-to-image / text-to-video, batched, one ``torch.Generator`` per prompt and sample).
* :mod:`evalsuite.policies.base`: the policy and policy-benchmark interfaces; the benchmarks
  themselves live in :mod:`evalsuite.capabilities`.
* :mod:`evalsuite.policies.runner` runs them with the same run store, resume and per-item
  errors as judge runs (``python -m evalsuite eval-policy``).

The registry entries live in :mod:`evalsuite.registry` (``POLICIES`` and, for the policy
benchmarks, ``BENCHMARKS``); importing this package loads nothing heavy.
"""
