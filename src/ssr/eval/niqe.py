"""NIQE: the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, IEEE SPL 2013).

A no-reference score (lower = more natural). The image's local normalised luminance
(MSCN coefficients) is summarised per 96 x 96 block by 18 statistics of generalised Gaussian
fits, at two scales (full and half size); the Gaussian fitted to all blocks' 36 features is
compared with the one fitted to a corpus of pristine images:

    ``NIQE = sqrt((mu_p - mu_d)^T pinv((Sigma_p + Sigma_d) / 2) (mu_p - mu_d))``.

The pristine model (``mu_p``, ``Sigma_p``) and the 7 x 7 Gaussian window (sigma 7/6) are the
standard parameters of the authors' MATLAB release, shipped in ``data/niqe_pris_params.npz``
(see ``data/NOTICE.md``).

Conventions of the reference MATLAB numbers (``computequality.m``), all reproduced here:

* The image is quantised to 8 bits and converted to MATLAB ``rgb2ycbcr`` luma on the 0-255
  scale, **rounded** to integers (the ``uint8`` luma MATLAB computes from a ``uint8`` image);
  NIQE of Set14 ``baboon.png`` is then 5.7296 as in MATLAB.
* The image is cropped to a multiple of the block size (top-left kept); local means and
  deviations use the window with replicated borders; the second scale is MATLAB
  ``imresize(im, 0.5)`` (bicubic with antialiasing, :func:`ssr.eval.resize.imresize`).
* Blocks with undefined statistics (``NaN``, e.g. perfectly flat) are ignored (MATLAB's
  ``nanmean`` / ``nancov``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import correlate
from scipy.special import gamma as gamma_fn

from .metrics import quantize, rgb_to_y
from .resize import imresize

__all__ = ["niqe", "niqe_features", "pristine_params", "PARAMS_PATH"]

PARAMS_PATH = Path(__file__).with_name("data") / "niqe_pris_params.npz"
BLOCK = 96

_GAM = np.arange(0.2, 10.0 + 1e-9, 0.001)
# ratio table of the moment-matching fit (MATLAB estimateaggdparam)
_R_AGGD = gamma_fn(2.0 / _GAM) ** 2 / (gamma_fn(1.0 / _GAM) * gamma_fn(3.0 / _GAM))


@lru_cache(maxsize=1)
def pristine_params() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mu 36, cov 36 x 36, window 7 x 7)`` of the standard pristine NIQE model."""
    with np.load(PARAMS_PATH) as d:
        return (d["mu_pris_param"].reshape(-1).astype(np.float64),
                d["cov_pris_param"].astype(np.float64),
                d["gaussian_window"].astype(np.float64))


def _aggd_fit(v: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching (MATLAB ``estimateaggdparam``).

    Returns ``(alpha, beta_left, beta_right)``: the shape and the two scale parameters
    (``nan`` when one side of the distribution is empty).
    """
    neg, pos = v[v < 0], v[v > 0]
    if neg.size == 0 or pos.size == 0:
        return np.nan, np.nan, np.nan
    left = float(np.sqrt(np.mean(neg * neg)))
    right = float(np.sqrt(np.mean(pos * pos)))
    g = left / right
    r_hat = float(np.mean(np.abs(v))) ** 2 / float(np.mean(v * v))
    r_norm = r_hat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = float(_GAM[np.argmin((_R_AGGD - r_norm) ** 2)])
    k = float(np.sqrt(gamma_fn(1.0 / alpha) / gamma_fn(3.0 / alpha)))
    return alpha, left * k, right * k


def _block_features(block: np.ndarray) -> list[float]:
    """The 18 statistics of one block of MSCN coefficients: the AGGD shape and mean scale of
    the coefficients, then for the products with the 4 neighbours (horizontal, vertical and the
    two diagonals) the AGGD shape, mean, left and right scales."""
    alpha, bl, br = _aggd_fit(block.ravel())
    feats = [alpha, (bl + br) / 2.0]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        pair = (block * np.roll(block, shift, axis=(0, 1))).ravel()
        a, bl, br = _aggd_fit(pair)
        mean = (br - bl) * gamma_fn(2.0 / a) / gamma_fn(1.0 / a) if np.isfinite(a) else np.nan
        feats += [a, mean, bl, br]
    return feats


def _scale_features(im: np.ndarray, window: np.ndarray, block: int) -> np.ndarray:
    """``n_blocks x 18`` features of one scale; blocks in MATLAB's column-major order."""
    mu = correlate(im, window, mode="nearest")
    var = correlate(im * im, window, mode="nearest") - mu * mu
    mscn = (im - mu) / (np.sqrt(np.abs(var)) + 1.0)
    rows, cols = im.shape[0] // block, im.shape[1] // block
    return np.array([
        _block_features(mscn[r * block:(r + 1) * block, c * block:(c + 1) * block])
        for c in range(cols) for r in range(rows)
    ], dtype=np.float64)


def niqe_features(y: np.ndarray | torch.Tensor, block: int = BLOCK) -> np.ndarray:
    """NIQE's ``n_blocks x 36`` feature matrix of a luma image (``H x W``, 0-255 scale)."""
    im = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    h, w = (im.shape[0] // block) * block, (im.shape[1] // block) * block
    if h == 0 or w == 0:
        raise ValueError(f"NIQE needs an image of at least {block}x{block} pixels, got {im.shape[1]}x{im.shape[0]}")
    im = im[:h, :w]
    _, _, window = pristine_params()
    f1 = _scale_features(im, window, block)
    half = imresize(torch.from_numpy(im), scale=0.5).numpy()
    f2 = _scale_features(half, window, block // 2)
    return np.concatenate([f1, f2], axis=1)


def niqe(img: torch.Tensor, crop: int = 0, round_y: bool = True) -> float:
    """NIQE of an image (lower = more natural).

    Args:
        img: ``3 x H x W`` in [0, 1] (a leading batch dimension of 1 is accepted); quantised to
            8 bits, converted to MATLAB ``rgb2ycbcr`` luma (rounded unless ``round_y=False``).
        crop: border pixels removed on each side first (0 by default).
    Returns:
        The NIQE score.
    Raises:
        ValueError: the image (after cropping) holds fewer than two 96 x 96 blocks with
            defined statistics (the covariance of the features is then undefined).
    """
    if img.dim() == 4 and img.shape[0] == 1:
        img = img[0]
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"image must be 3 x H x W, got shape {tuple(img.shape)}")
    y = rgb_to_y(quantize(img), round_y=round_y)[0]
    if crop > 0:
        y = y[crop:-crop, crop:-crop]
    feats = niqe_features(y)
    mu_p, cov_p, _ = pristine_params()
    mu_d = np.nanmean(feats, axis=0)
    complete = feats[~np.isnan(feats).any(axis=1)]
    if complete.shape[0] < 2 or np.isnan(mu_d).any():
        raise ValueError(f"NIQE needs at least two {BLOCK}x{BLOCK} blocks with defined statistics; "
                         f"a {y.shape[-1]}x{y.shape[-2]} image has {complete.shape[0]}")
    cov_d = np.cov(complete, rowvar=False)
    diff = mu_p - mu_d
    return float(np.sqrt(diff @ np.linalg.pinv((cov_p + cov_d) / 2.0) @ diff))
