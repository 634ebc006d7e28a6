"""Tiny randomly initialised SSR components for fast tests."""
from __future__ import annotations

from pathlib import Path

import torch

from ssr.io import write_json
from ssr.models.dkenet import DKENet
from ssr.models.nonblind import NonBlindSR

from conftest import textured


def tiny_models(seed: int = 0, kernel_size: int = 9, feedback: bool = False):
    torch.manual_seed(seed)
    dk = DKENet(channels=8, depth_channels=4, kernel_size=kernel_size, feedback=feedback)
    nb = NonBlindSR(kernel_size=kernel_size, channels=8, growth=4, blocks=1, pca_components=3, cond_channels=4,
                    hr_channels=4)
    for m in (dk, nb):  # random non-trivial weights (the defaults start as identities / bicubic)
        for name, p in m.named_parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=0.05)
    nb.set_pca(torch.full((kernel_size ** 2,), 1 / kernel_size ** 2), torch.eye(kernel_size ** 2)[:3], torch.ones(3))
    return dk.eval(), nb.eval()


def tiny_pipeline(folder: Path, depth: str = "vertical") -> Path:
    dk, nb = tiny_models()
    dk.save_pretrained(folder / "svkr" / "dkenet")
    nb.save_pretrained(folder / "svkr" / "nonblind")
    write_json(folder / "pipeline.json", {"depth": depth, "rounds": 3, "momentum": 0.9})
    return folder


def image_folder(folder: Path, n: int = 3, size=(64, 80)) -> Path:
    from ssr.io import write_image

    for i in range(n):
        write_image(folder / f"img{i}.png", textured(*size, seed=i))
    return folder
