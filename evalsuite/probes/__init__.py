"""Judge report cards: sanity, robustness and reward-hacking probes.

Probes are plugins like judges and benchmarks: a name maps to a lazily imported class
(``"module:Class"``), and third-party packages add probes through the entry-point group
``evalsuite.probes``. ``evalsuite probe`` runs them (see :mod:`evalsuite.probes.engine`).
"""

from __future__ import annotations

from evalsuite.registry import Registry

PROBES = Registry("probe", "evalsuite.probes")
_C = "evalsuite.probes.checks"
PROBES.register("position", f"{_C}:PositionProbe")
PROBES.register("identical", f"{_C}:IdenticalProbe")
PROBES.register("prompt", f"{_C}:PromptProbe")
PROBES.register("perturbation", f"{_C}:PerturbationProbe")
PROBES.register("video", f"{_C}:VideoProbe")
PROBES.register("resolution", f"{_C}:ResolutionProbe")

# The order of the report card.
DEFAULT_PROBES = ("position", "identical", "prompt", "perturbation", "video", "resolution")
