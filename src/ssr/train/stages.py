"""Registry of training stages: name -> trainer class (imported lazily)."""
from __future__ import annotations

import importlib

from ..errors import SSRError

#: stage name -> "module:Class" under ssr.train
STAGES: dict[str, str] = {}


def register_stage(name: str, target: str) -> None:
    STAGES[name] = target


def get_stage(name: str):
    """The trainer class of a stage."""
    if name not in STAGES:
        raise SSRError(f"unknown training stage {name!r}; choose from {', '.join(sorted(STAGES)) or '(none)'}")
    module, cls = STAGES[name].split(":")
    return getattr(importlib.import_module(module, __package__), cls)


register_stage("nonblind", ".svkr_stages:NonBlindTrainer")
register_stage("dkenet", ".svkr_stages:DKENetTrainer")
register_stage("depth", ".depth_stage:DepthTrainer")
register_stage("svkr", ".svkr_stages:SVKRTrainer")
register_stage("amf", ".amf_stage:AMFTrainer")
register_stage("prior", ".prior_stage:PriorTrainer")
