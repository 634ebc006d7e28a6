"""Optional learned metrics: LPIPS (full-reference), MUSIQ and CLIP-IQA (no-reference).

They are computed with `pyiqa <https://github.com/chaofengc/IQA-PyTorch>`_ when it is installed
and can load its network weights (from its local cache; SSR never downloads anything itself).
Otherwise :func:`load_optional_metric` returns ``None`` and the reason (``"pyiqa not
installed"``, ``"pyiqa could not load musiq: ..."``): the score is then reported as ``n/a``
with the reason in a footnote, never estimated or replaced by something else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .metrics import quantize

__all__ = ["OPTIONAL_METRICS", "OptionalMetric", "load_optional_metric"]

# our name -> (pyiqa name, needs the HR reference, lower is better)
OPTIONAL_METRICS: dict[str, tuple[str, bool, bool]] = {
    "lpips": ("lpips", True, True),
    "musiq": ("musiq", False, False),
    "clipiqa": ("clipiqa", False, False),
}


@dataclass
class OptionalMetric:
    """A loaded optional metric.

    ``fn(sr, hr)`` takes ``3 x H x W`` tensors in [0, 1] (quantised to 8 bits first; ``hr`` is
    ignored by no-reference metrics) and returns a float.
    """

    name: str
    reference: bool
    lower_better: bool
    fn: Callable[[torch.Tensor, torch.Tensor | None], float]


def load_optional_metric(name: str, device: str = "cpu") -> tuple[OptionalMetric | None, str | None]:
    """Try to load ``name`` (``lpips``, ``musiq`` or ``clipiqa``).

    Returns:
        ``(metric, None)`` when available, else ``(None, reason)``.
    """
    if name not in OPTIONAL_METRICS:
        raise ValueError(f"unknown optional metric {name!r}; choose from {', '.join(OPTIONAL_METRICS)}")
    iqa_name, reference, lower = OPTIONAL_METRICS[name]
    try:
        import pyiqa
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken dependency (torchvision)
        return None, "pyiqa not installed" if isinstance(exc, ModuleNotFoundError) else f"pyiqa unusable: {exc}"
    try:
        net = pyiqa.create_metric(iqa_name, device=torch.device(device), as_loss=False)
    except Exception as exc:  # noqa: BLE001 - missing weights, no network, ...
        return None, f"pyiqa could not load {iqa_name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"

    def fn(sr: torch.Tensor, hr: torch.Tensor | None) -> float:
        x = quantize(sr).float()[None].to(device)
        with torch.no_grad():
            if reference:
                return float(net(x, quantize(hr).float()[None].to(device)).item())
            return float(net(x).item())

    return OptionalMetric(name=name, reference=reference, lower_better=lower, fn=fn), None
