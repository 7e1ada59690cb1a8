# A minimal stand-in for lmms-eval's request / model API, for testing evalsuite's lmms-eval
# bridge where lmms-eval itself is not installed.
#
# Written from github EvolvingLMMs-Lab/lmms-eval as released on PyPI (lmms-eval 0.7.3):
#   lmms_eval/api/instance.py  - Instance: request_type, arguments, idx, metadata (task,
#                                doc_id, repeats unpacked in __post_init__), resps, args;
#   lmms_eval/api/model.py     - lmms: abstract loglikelihood / generate_until /
#                                generate_until_multi_round, _rank / _world_size, task_dict;
#   lmms_eval/models/simple/*  - generate_until requests' args are (context, gen_kwargs,
#                                doc_to_visual, doc_id, task, split) and visuals are
#                                doc_to_visual(self.task_dict[task][split][doc_id]).
# Only what the bridge touches is kept.
import abc
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Instance:
    request_type: str
    arguments: tuple
    idx: int
    metadata: dict = field(default_factory=dict)
    resps: list = field(default_factory=list)
    filtered_resps: dict = field(default_factory=dict)
    task_name: Any = None
    doc_id: Any = None
    repeats: Any = None

    def __post_init__(self) -> None:
        self.task_name, self.doc_id, self.repeats = (self.metadata["task"],
                                                     self.metadata["doc_id"],
                                                     self.metadata["repeats"])

    @property
    def args(self):
        return self.arguments if isinstance(self.arguments, tuple) else (self.arguments,)


class lmms(abc.ABC):
    is_simple: bool = True

    def __init__(self) -> None:
        self._rank = 0
        self._world_size = 1
        self.task_dict = {}

    @abc.abstractmethod
    def loglikelihood(self, requests):
        pass

    @abc.abstractmethod
    def generate_until(self, requests):
        pass

    @abc.abstractmethod
    def generate_until_multi_round(self, requests):
        pass
