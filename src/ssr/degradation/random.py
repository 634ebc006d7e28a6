"""Seeded random helpers shared by the degradation modules.

All randomness in :mod:`ssr.degradation` flows from a :class:`torch.Generator`, so a seed fully
determines a degradation (on a given device).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def uniform(gen: torch.Generator | None, lo: float, hi: float, shape=(), device=None) -> torch.Tensor:
    """Uniform samples in ``[lo, hi)`` of the given shape."""
    dev = gen.device if gen is not None else device
    u = torch.rand(shape, generator=gen, device=dev)
    out = lo + (hi - lo) * u
    return out.to(device) if device is not None else out


def uniform_float(gen: torch.Generator | None, lo: float, hi: float) -> float:
    """One uniform sample in ``[lo, hi)`` as a Python float."""
    return float(uniform(gen, lo, hi))


def log_uniform_float(gen: torch.Generator | None, lo: float, hi: float) -> float:
    """One sample whose logarithm is uniform in ``[log lo, log hi)``."""
    return math.exp(uniform_float(gen, math.log(lo), math.log(hi)))


def chance(gen: torch.Generator | None, p: float) -> bool:
    """True with probability ``p``."""
    return p >= 1.0 or (p > 0.0 and uniform_float(gen, 0.0, 1.0) < p)


def choice(gen: torch.Generator | None, options):
    """One element of ``options``, uniformly."""
    i = int(torch.randint(len(options), (), generator=gen, device=gen.device if gen else None))
    return options[i]


def device_generator(gen: torch.Generator | None, device: torch.device | str) -> torch.Generator:
    """A generator on ``device`` seeded from ``gen`` (keeps one seed in charge of everything)."""
    seed = int(torch.randint(0, 2**62, (), generator=gen, device=gen.device if gen else None))
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(seed)
    return g


def smooth_noise(
    gen: torch.Generator | None,
    shape: tuple[int, int, int],
    cells: float = 3.0,
    device=None,
) -> torch.Tensor:
    """Smooth random fields with values in (0, 1), roughly uniformly spread.

    A coarse Gaussian grid of about ``cells`` cells across the shorter side (plus one finer
    octave at half amplitude) is upsampled bicubically, standardised per field, and mapped
    through the normal CDF.

    Args:
        shape: ``(B, h, w)``.
    Returns:
        ``B x h x w`` tensor.
    """
    b, h, w = shape
    short = max(min(h, w), 1)
    out = torch.zeros(b, 1, h, w, device=device)
    for octave, amp in ((1.0, 1.0), (2.0, 0.5)):
        c = max(cells * octave, 1.0)
        gh = max(int(math.ceil(c * h / short)) + 1, 2)
        gw = max(int(math.ceil(c * w / short)) + 1, 2)
        g = torch.randn(b, 1, gh, gw, generator=gen, device=gen.device if gen else device).to(device)
        out += amp * F.interpolate(g, size=(h, w), mode="bicubic", align_corners=True)
    out = out.view(b, -1)
    out = (out - out.mean(1, keepdim=True)) / out.std(1, keepdim=True).clamp_min(1e-6)
    out = 0.5 * (1 + torch.erf(out / math.sqrt(2)))
    return out.view(b, h, w)
