"""Files shipped with the package: a sample picture rendered by ``scripts/make_sample.py``
(a synthetic scene, so it carries no third-party rights) and its exact depth map."""
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
