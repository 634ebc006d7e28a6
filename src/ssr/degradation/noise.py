"""Sensor noise and JPEG compression (the ``+ n`` and ``JPEG(.)`` of paper Eq. 1).

Noise models
    * Gaussian read noise of standard deviation ``sigma`` (on the [0, 1] scale), with a
      channel correlation ``rho`` in [0, 1]: ``n_c = sigma (sqrt(rho) z + sqrt(1 - rho) z_c)``;
      ``rho = 0`` is independent colour noise, ``rho = 1`` grey (luminance) noise, values in
      between the channel-correlated noise of demosaicked sensors.
    * Poisson shot noise with ``peak`` photons at white: ``x' = Poisson(x peak) / peak``,
      optionally computed on luminance only (grey shot noise).

JPEG goes through Pillow's real libjpeg encoder (4:2:0 chroma subsampling) at 8 bits.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .random import chance, log_uniform_float, uniform_float


@dataclass
class NoiseConfig:
    """Noise drawn per image. Sigmas are on the 0-255 scale for readability.

    Attributes:
        prob: probability that an image gets noise at all.
        gaussian_prob: given noise, probability of Gaussian (else Poisson).
        sigma_range: Gaussian sigma range (0-255 scale).
        gray_prob: probability of fully channel-correlated (grey) noise.
        correlation_range: range of the channel correlation ``rho`` for colour noise.
        peak_range: Poisson photon counts at white (log-uniform).
        poisson_gray_prob: probability that shot noise is computed on luminance only.
    """

    prob: float = 1.0
    gaussian_prob: float = 0.6
    sigma_range: tuple[float, float] = (1.0, 25.0)
    gray_prob: float = 0.3
    correlation_range: tuple[float, float] = (0.0, 0.8)
    peak_range: tuple[float, float] = (30.0, 3000.0)
    poisson_gray_prob: float = 0.3


@dataclass
class JpegConfig:
    """JPEG drawn per image: applied with probability ``prob`` at a quality in ``quality_range``."""

    prob: float = 1.0
    quality_range: tuple[int, int] = (30, 95)


def gaussian_noise(x: torch.Tensor, sigma: float, rho: float, gen: torch.Generator | None) -> torch.Tensor:
    """Add channel-correlated Gaussian noise to ``C x H x W`` (or ``B x C x H x W``) ``x``."""
    dev = gen.device if gen is not None else x.device
    shared = torch.randn((*x.shape[:-3], 1, *x.shape[-2:]), generator=gen, device=dev).to(x.device)
    own = torch.randn(x.shape, generator=gen, device=dev).to(x.device)
    return x + sigma * (math.sqrt(rho) * shared + math.sqrt(1 - rho) * own)


def poisson_noise(x: torch.Tensor, peak: float, gray: bool, gen: torch.Generator | None) -> torch.Tensor:
    """Add Poisson shot noise with ``peak`` photons at white to a ``[B x] 3 x H x W`` image."""
    dev = gen.device if gen is not None else x.device
    x = x.clamp(0, 1)
    if gray:
        w = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(3, 1, 1)
        y = (x * w).sum(-3, keepdim=True)
        noisy = torch.poisson((y * peak).to(dev), generator=gen).to(x.device) / peak
        return x + (noisy - y)
    return torch.poisson((x * peak).to(dev), generator=gen).to(x.device) / peak


def sample_and_add_noise(x: torch.Tensor, cfg: NoiseConfig, gen: torch.Generator | None) -> tuple[torch.Tensor, dict]:
    """Draw noise parameters from ``cfg`` and apply them to one ``3 x H x W`` image.

    Returns:
        ``(noisy image, params)``; params is empty when no noise was drawn.
    """
    if not chance(gen, cfg.prob):
        return x, {}
    if chance(gen, cfg.gaussian_prob):
        sigma = uniform_float(gen, *cfg.sigma_range)
        rho = 1.0 if chance(gen, cfg.gray_prob) else uniform_float(gen, *cfg.correlation_range)
        return gaussian_noise(x, sigma / 255.0, rho, gen), {"noise": "gaussian", "sigma": sigma, "rho": rho}
    peak = log_uniform_float(gen, *cfg.peak_range)
    gray = chance(gen, cfg.poisson_gray_prob)
    return poisson_noise(x, peak, gray, gen), {"noise": "poisson", "peak": peak, "gray": gray}


def jpeg_compress(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode and decode a ``3 x H x W`` image in [0, 1] with libjpeg at ``quality`` (1-95)."""
    arr = (x.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        dec = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(dec).permute(2, 0, 1).to(x.device, x.dtype)


def sample_and_jpeg(x: torch.Tensor, cfg: JpegConfig, gen: torch.Generator | None) -> tuple[torch.Tensor, dict]:
    """Draw a JPEG quality from ``cfg`` and compress one ``3 x H x W`` image (or not)."""
    if not chance(gen, cfg.prob):
        return x, {}
    q = int(round(uniform_float(gen, cfg.quality_range[0], cfg.quality_range[1] + 0.999) - 0.5))
    q = max(1, min(95, q))
    return jpeg_compress(x, q), {"jpeg_quality": q}
