"""A synthetic depth-of-field set and the measures of the keep-bokeh mode (issue 17).

In a real photograph the high-resolution truth is itself out of focus behind (or before) the
subject. The set renders that truth: each HR picture of a folder is blurred by **scene defocus**
(:func:`render_defocus`: a disc per pixel whose radius grows linearly with ``|d - d_f|``, ``d``
the depth the built-in network estimates on the picture, ``d_f`` the depth of a random
point of its nearer half (the subject), the largest radius 3-6 HR px), and the LR picture is then
degraded from that truth by the **camera** (one anisotropic Gaussian of width 0.4-1.2 HR px
everywhere, noise and JPEG, x4). A method should restore the camera blur and keep the defocus.

Measures against the defocused truth (:func:`score`):

* PSNR-Y on the whole picture, and on its in-focus part (defocus radius <= 0.75 px);
* **invented texture**: the high-frequency energy of the output in the defocused part
  (radius >= 2 px) over that of the truth (luma minus its Gaussian blur of sigma 2 HR px, mean
  square). 1 is the truth's; above 1, texture the scene does not have.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..degradation import DegradationConfig, DegradationPipeline, apply_kernel_field, crop_to_multiple
from ..degradation.kernels import defocus_disc
from .metrics import psnr, quantize, rgb_to_y

#: radius (HR px) at and below which a pixel counts as in focus, and from which as defocused
IN_FOCUS_RADIUS, DEFOCUS_RADIUS = 0.75, 2.0


@dataclass
class BokehPair:
    """One picture of the set: ``lr`` ``1 x 3 x h x w``, the defocused truth ``hr``
    ``1 x 3 x H x W``, the defocus ``radius`` map ``1 x 1 x H x W`` (HR px) and the draws."""

    lr: torch.Tensor
    hr: torch.Tensor
    radius: torch.Tensor
    params: dict


def render_defocus(hr: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Blur ``hr`` (``1 x 3 x H x W``) by a disc of ``radius`` (``1 x 1 x H x W``, HR px) at every
    pixel (the gather approximation of defocus: each output pixel averages its own disc)."""
    r_max = float(radius.max())
    k = 2 * max(1, math.ceil(r_max + 0.5)) + 1
    out = torch.empty_like(hr)
    h = hr.shape[-2]
    rows = max(1, 4_000_000 // max(1, k * k * hr.shape[-1]))  # bounded kernel-field bands
    pad = k // 2
    padded = F.pad(hr, (0, 0, pad, pad), mode="replicate")
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        field = defocus_disc(radius[:, 0, y0:y1], k=k, dim=1)
        band = padded[..., y0:y1 + 2 * pad, :]
        blurred = apply_kernel_field(band, F.pad(field, (0, 0, pad, pad), mode="replicate"), 1)
        out[..., y0:y1, :] = blurred[..., pad:pad + (y1 - y0), :]
    return out


def make_pair(hr: torch.Tensor, depth: torch.Tensor, seed: int, scale: int = 4) -> BokehPair:
    """Render one picture of the set from ``hr`` (``3 x H x W``) and its depth (``1 x 1 x H x W``
    relative inverse depth, 1 = near); every draw comes from ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    hr = crop_to_multiple(hr[None] if hr.dim() == 3 else hr, scale).float()
    depth = F.interpolate(depth.float(), size=hr.shape[-2:], mode="bilinear", align_corners=False)
    d = depth.reshape(-1)
    near = d >= torch.quantile(d, 0.5)
    candidates = near.nonzero()[:, 0]
    focus = float(d[candidates[int(torch.randint(len(candidates), (), generator=gen))]])
    r_max = 3.0 + 3.0 * float(torch.rand((), generator=gen))
    dist = (depth - focus).abs()
    radius = r_max * dist / dist.max().clamp_min(1e-6)
    target = render_defocus(hr, radius).clamp(0, 1)
    target = torch.round(target * 255) / 255  # the truth as a saved picture
    cfg = DegradationConfig.from_dict({"preset": "noise-jpeg", "scale": scale,
                                       "field": {"kind": "invariant", "family": "gaussian",
                                                 "sigma_range": [0.4, 1.2]}})
    out = DegradationPipeline(cfg)(target, seed=int(seed))
    return BokehPair(lr=out.lr, hr=target, radius=radius,
                     params={"focus": focus, "max_radius": r_max, **out.params[0]})


def high_frequency_map(img: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """``1 x 1 x H x W``: the square of luma minus its Gaussian blur (``sigma`` px); ``img``:
    ``1 x 3 x H x W`` in [0, 1], quantised to 8 bits first."""
    y = rgb_to_y(quantize(img[0]))[None].float() / 255.0
    r = max(1, int(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    blur = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
    blur = F.conv2d(F.pad(blur, (0, 0, r, r), mode="replicate"), g.view(1, 1, -1, 1))
    return (y - blur) ** 2


def high_frequency_energy(img: torch.Tensor, mask: torch.Tensor, sigma: float = 2.0) -> float:
    """Mean of :func:`high_frequency_map` over ``mask`` (``1 x 1 x H x W`` bool)."""
    hf = high_frequency_map(img, sigma)
    return float(hf[mask].mean()) if bool(mask.any()) else float("nan")


def score(sr: torch.Tensor, pair: BokehPair) -> dict[str, float]:
    """The set's measures of one output ``sr`` (``1 x 3 x H x W``) against ``pair``."""
    focus = pair.radius <= IN_FOCUS_RADIUS
    blurred = pair.radius >= DEFOCUS_RADIUS
    y_sr = rgb_to_y(quantize(sr[0]))
    y_hr = rgb_to_y(quantize(pair.hr[0]))
    m = focus[0]
    mse_focus = float(((y_sr - y_hr) ** 2)[m].mean()) if bool(m.any()) else float("nan")
    target_hf = high_frequency_energy(pair.hr, blurred)
    return {"psnr": psnr(sr[0], pair.hr[0]),
            "psnr_focus": 10 * math.log10(255.0 ** 2 / max(mse_focus, 1e-12)),
            "invented": high_frequency_energy(sr, blurred) / max(target_hf, 1e-12),
            "focus_fraction": float(focus.float().mean()), "defocus_fraction": float(blurred.float().mean())}


__all__ = ["BokehPair", "DEFOCUS_RADIUS", "IN_FOCUS_RADIUS", "high_frequency_energy", "high_frequency_map", "make_pair",
           "render_defocus", "score"]
