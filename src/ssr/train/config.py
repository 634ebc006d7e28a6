"""Experiment configs: one YAML file per experiment, merged over the stage's defaults.

Top-level keys common to every stage (defaults in :data:`COMMON_DEFAULTS`)::

    stage: depth              # which trainer (also given on the command line)
    seed: 0
    steps: 1000               # optimiser steps in total
    batch_size: 8             # per process
    lr: 2.0e-4
    weight_decay: 0.0
    warmup_steps: 100
    schedule: cosine          # cosine | constant
    grad_clip: 1.0
    ema_decay: 0.999          # 0 disables EMA
    mixed_precision: auto     # auto (bf16 on CUDA, none on CPU) | no | bf16 | fp16
    log_every: 10
    save_every: 500
    keep_checkpoints: 2
    init_from: null           # folder of weights to start from (e.g. the shipped ones)
    data_workers: 0           # processes drawing batches on the CPU (stages with cpu_batch)
    time_budget_s: 0          # fit the run into this many seconds (re-plans ``steps``); 0 = off
    base: other.yaml          # optional: start from that config (path relative to this file) and
                              # change only what this file states (mappings merge, lists replace)
    model: {...}              # constructor arguments of the stage's model
    data: {...}               # stage specific
    loss: {...}               # stage specific
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ..errors import SSRError

COMMON_DEFAULTS: dict[str, Any] = {
    "stage": None,
    "seed": 0,
    "steps": 1000,
    "batch_size": 8,
    "lr": 2.0e-4,
    "weight_decay": 0.0,
    "betas": [0.9, 0.99],
    "warmup_steps": 100,
    "schedule": "cosine",
    "min_lr_ratio": 0.05,
    "grad_clip": 1.0,
    "ema_decay": 0.999,
    "mixed_precision": "auto",
    "log_every": 10,
    "save_every": 500,
    "keep_checkpoints": 2,
    "init_from": None,
    "data_workers": 0,
    "time_budget_s": 0,
    "model": {},
    "data": {},
    "loss": {},
}


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base``."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(path: str | Path | None, defaults: dict | None = None, overrides: dict | None = None) -> dict:
    """Read a YAML/JSON config and merge it over ``COMMON_DEFAULTS`` and the stage ``defaults``.

    Unknown top-level keys are rejected so a typo does not silently train the wrong thing.
    """
    data = read_config_file(path) if path is not None else {}
    cfg = deep_merge(deep_merge(COMMON_DEFAULTS, defaults or {}), data)
    cfg = deep_merge(cfg, overrides or {})
    unknown = set(cfg) - set(COMMON_DEFAULTS) - set(defaults or {})
    if unknown:
        raise SSRError(f"unknown config keys: {', '.join(sorted(unknown))}")
    for section in ("data", "loss"):
        _check_nested(cfg.get(section), (defaults or {}).get(section), section)
    return cfg


def read_config_file(path: str | Path, _seen: tuple = ()) -> dict:
    """The mapping a config file states, with its ``base:`` chain resolved (not yet merged over
    any defaults)."""
    p = Path(path)
    if not p.is_file():
        raise SSRError(f"config not found: {p}" + (f" (the base of {_seen[-1]})" if _seen else ""))
    if p.resolve() in _seen:
        raise SSRError(f"config {p}: its base: chain comes back to itself")
    try:
        text = p.read_text()
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:  # noqa: BLE001
        raise SSRError(f"cannot parse config {p}: {exc}") from None
    if not isinstance(data, dict):
        raise SSRError(f"config {p} must be a mapping")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise SSRError(f"config {p}: base: must be a file name")
    return deep_merge(read_config_file(p.parent / base, (*_seen, p.resolve())), data)


def _check_nested(value: Any, default: Any, where: str) -> None:
    """Reject keys of a section (``data``, ``loss`` and their sub-mappings) that the stage does
    not define, e.g. a ``synth:`` block indented under ``loss:`` instead of ``data:``. Sections
    whose defaults are empty (free-form) are not checked."""
    if not isinstance(value, dict) or not isinstance(default, dict) or not default:
        return
    unknown = set(value) - set(default)
    if unknown:
        raise SSRError(f"unknown config keys in {where}: {', '.join(sorted(unknown))} "
                       f"(known: {', '.join(sorted(default))})")
    for key, sub in value.items():
        _check_nested(sub, default.get(key), f"{where}.{key}")
