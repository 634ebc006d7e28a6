"""Configurable models that save and load themselves (config + safetensors), diffusers style.

A model subclass passes its constructor arguments to :class:`SSRModel` so they can be written
to ``config.json``; ``from_pretrained`` rebuilds the class from that file and loads the
weights. Registered by class name so a folder alone says what it holds.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import SSRError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_REGISTRY: dict[str, type["SSRModel"]] = {}
#: modules that define the project's models, imported on demand by ``from_pretrained``
MODEL_MODULES = ("ssr.models.dkenet", "ssr.models.nonblind", "ssr.models.amf", "ssr.models.denoiser",
                 "ssr.models.prior", "ssr.depth.builtin")


def register_model(cls: type["SSRModel"]) -> type["SSRModel"]:
    """Class decorator: make a model loadable by ``SSRModel.from_pretrained``."""
    MODEL_REGISTRY[cls.__name__] = cls
    return cls


class SSRModel(nn.Module):
    """Base class: keeps the constructor arguments in ``self.config``."""

    #: dtype of the floating-point tensors in ``model.safetensors`` (``None``: as trained); the
    #: weights are cast back to the module's dtype on loading
    storage_dtype: torch.dtype | None = None
    #: state keys kept in their own dtype whatever ``storage_dtype`` says (e.g. a PCA basis
    #: that other models must match exactly)
    storage_exempt: tuple[str, ...] = ()

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.config = dict(config)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, folder: str | os.PathLike, state_dict: dict[str, torch.Tensor] | None = None,
                        extra: dict | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``folder`` (atomically each).

        Args:
            state_dict: weights to write instead of the module's own (e.g. EMA weights).
            extra: additional JSON-able metadata stored in the config under ``"extra"``.
        """
        from safetensors.torch import save_file

        from .. import __version__
        from ..io import write_json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        sd = state_dict if state_dict is not None else self.state_dict()
        dt = self.storage_dtype
        cast = lambda k, v: dt is not None and v.is_floating_point() and k not in self.storage_exempt  # noqa: E731
        sd = {k: v.detach().to("cpu", dtype=dt if cast(k, v) else v.dtype).contiguous().clone() for k, v in sd.items()}
        tmp = folder / f".{WEIGHTS_NAME}.tmp"
        save_file(sd, str(tmp), metadata={"class": type(self).__name__})
        os.replace(tmp, folder / WEIGHTS_NAME)
        meta = {"class": type(self).__name__, "ssr_version": __version__, "config": self.config}
        if extra:
            meta["extra"] = extra
        write_json(folder / CONFIG_NAME, meta)
        return folder

    @staticmethod
    def saved_meta(folder: str | os.PathLike) -> dict:
        """The ``config.json`` of a folder written by :meth:`save_pretrained`: ``class``, ``config``
        (the constructor's options) and ``extra`` (``SSRError`` where it is missing or corrupt)."""
        folder = Path(folder)
        cfg_path, w_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        if not cfg_path.is_file() or not w_path.is_file():
            raise SSRError(f"no SSR model in {folder} (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
        try:
            return json.loads(cfg_path.read_text())
        except json.JSONDecodeError as exc:
            raise SSRError(f"corrupt {cfg_path}: {exc}") from None

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, device: str | torch.device | None = None,
                        strict: bool = True) -> "SSRModel":
        """Rebuild a model saved by :meth:`save_pretrained` (any registered subclass)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        w_path = folder / WEIGHTS_NAME
        meta = SSRModel.saved_meta(folder)
        name = meta.get("class")
        if name not in MODEL_REGISTRY:
            import importlib

            for module in MODEL_MODULES:
                try:
                    importlib.import_module(module)
                except ImportError:  # an optional dependency (diffusers) is missing
                    pass
        klass = MODEL_REGISTRY.get(name)
        if klass is None:
            raise SSRError(f"{folder} holds an unknown model class {name!r}")
        if cls is not SSRModel and not issubclass(klass, cls):
            raise SSRError(f"{folder} holds a {name}, not a {cls.__name__}")
        model = klass(**meta.get("config", {}))
        try:
            sd = load_file(str(w_path), device="cpu")
        except Exception as exc:  # noqa: BLE001
            raise SSRError(f"cannot load weights {w_path}: {exc}") from None
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if strict and (missing or unexpected):
            raise SSRError(f"weights in {folder} do not fit {name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
        model.pretrained_extra = meta.get("extra", {})
        if device is not None:
            model.to(device)
        return model.eval()
