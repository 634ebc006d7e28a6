"""Files shipped with the package: a sample picture rendered by ``scripts/make_sample.py``
(a synthetic scene, so it carries no third-party rights), its exact depth map and its x4
degraded low-resolution version (what ``ssr upscale --sample`` works on)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def asset_path(name: str) -> Path:
    """Path of a shipped asset file."""
    return Path(str(resources.files(__package__).joinpath(name)))


def sample_image_path() -> Path:
    """The sample HR picture (512 x 384 RGB PNG)."""
    return asset_path("sample.png")


def sample_depth_path() -> Path:
    """Exact relative inverse depth of the sample picture (16-bit PNG, bright = near)."""
    return asset_path("sample_depth.png")


def sample_lr_path() -> Path:
    """The sample degraded x4 (depth-informed blur, noise, JPEG; 128 x 96 RGB PNG)."""
    return asset_path("sample_lr.png")
