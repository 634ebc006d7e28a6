"""The local-evidence ceiling of kernel estimation: analysis-by-synthesis from the true HR picture.

A blind estimator sees only the LR picture; this oracle also knows the HR content, so what it
cannot tell about the blur, no estimator reading local evidence can. For each candidate isotropic
Gaussian width ``s`` (HR px) the HR picture is re-degraded (``down(HR * g_s)``, the sampling of
:func:`ssr.degradation.apply_kernel_field`); the squared difference to the observed LR, smoothed
over a window, scores ``s`` at every LR pixel. The width is the soft arg-min over the candidates,
and the relative spread of the scores is the evidence (a flat region scores every width alike);
the width map is then spread by evidence-weighted normalised convolution, so guesses in flat
regions take their textured neighbours' widths (a smooth-field prior, as a learned estimator may
have). Noise and JPEG are not modelled: they read as part of the picture.

Used by ``ssr bench --kernels`` (estimator ``local-oracle``) and research/synthesis_blur_probe.py.
"""
from __future__ import annotations

import torch

from ..degradation import apply_kernel_field
from ..degradation.apply import gaussian_blur, weighted_blur
from ..degradation.kernels import center_shift, isotropic_gaussian

#: candidate Gaussian sigmas (HR px), the range of the training fields' widths
SIGMAS = (0.3, 0.6, 0.9, 1.2, 1.6, 2.0, 2.5, 3.0, 3.6, 4.2)


def synthesis_errors(x: torch.Tensor, lr: torch.Tensor, sigmas=SIGMAS, k: int = 21, scale: int = 4) -> torch.Tensor:
    """``B x S x h x w``: squared error (channel mean) of ``down(x * g_s)`` against ``lr`` per sigma
    ``s`` (unsmoothed; smooth it over a window to score the sigmas locally).
    ``x``: ``B x 3 x H x W`` (the HR picture or an estimate of it), ``lr``: ``B x 3 x h x w``."""
    h, w = lr.shape[-2:]
    out = []
    for s in sigmas:
        kern = isotropic_gaussian(torch.tensor([float(s)]), k, shift=center_shift(scale)).view(1, -1, 1, 1)
        resynth = apply_kernel_field(x, kern.to(x).expand(1, -1, h, w), scale)
        out.append(((resynth - lr) ** 2).mean(1, keepdim=True))
    return torch.cat(out, 1)


def width_map(scores: torch.Tensor, sigmas=SIGMAS, temperature: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft arg-min width (``B x 1 x h x w``, HR px) of ``scores`` (``B x S x h x w``) and its
    evidence (the relative spread of the scores, ``B x 1 x h x w``, 0 where every width fits alike)."""
    lo = scores.min(1, keepdim=True).values
    rel = scores / lo.clamp_min(1e-8) - 1  # 0 at the best sigma
    p = torch.softmax(-rel / temperature, 1)
    s = torch.tensor(sigmas, dtype=scores.dtype, device=scores.device).view(1, -1, 1, 1)
    evidence = (scores.max(1, keepdim=True).values - lo) / lo.clamp_min(1e-8)
    return (p * s).sum(1, keepdim=True), evidence


def local_oracle_widths(hr: torch.Tensor, lr: torch.Tensor, window: float = 4.0, spread: float = 8.0,
                        k: int = 21, scale: int = 4) -> torch.Tensor:
    """Width map ``B x 1 x h x w`` (HR px) the HR picture ``hr`` (``B x 3 x H x W``) tells about
    the blur of ``lr`` (``B x 3 x h x w``): scores smoothed over ``window`` LR px, the map spread
    by evidence over ``spread`` LR px (0: not spread)."""
    err = synthesis_errors(hr, lr, SIGMAS, k, scale)
    wm, ev = width_map(gaussian_blur(err, window))
    return weighted_blur(wm, ev, spread) if spread > 0 else wm


def local_oracle_kernels(hr: torch.Tensor, lr: torch.Tensor, k: int, scale: int = 4) -> torch.Tensor:
    """Kernel field ``B x k*k x h x w``: the isotropic Gaussian of :func:`local_oracle_widths` at
    every LR pixel."""
    sig = local_oracle_widths(hr, lr, k=k, scale=scale)[:, 0]
    return isotropic_gaussian(sig, k, shift=center_shift(scale), dim=1).to(lr)


__all__ = ["SIGMAS", "local_oracle_kernels", "local_oracle_widths", "synthesis_errors", "width_map"]
