"""Shared fixtures. Tests that need the real datasets in ../shared skip cleanly without them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SSR_SHARED", ROOT.parent / "shared"))
DATASETS = SHARED / "datasets"

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def datasets() -> Path:
    """Path of ../shared/datasets; skips the test when it is absent."""
    if not DATASETS.is_dir():
        pytest.skip(f"real datasets not available at {DATASETS}")
    return DATASETS


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def textured(h: int = 64, w: int = 80, seed: int = 0) -> torch.Tensor:
    """A deterministic ``3 x h x w`` test picture with edges and texture, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([xx, yy, 0.5 + 0.5 * torch.sin(12 * xx + 7 * yy)])
    stripes = ((xx * 13).floor() % 2)[None] * 0.3
    return (0.6 * base + stripes + 0.1 * torch.rand(3, h, w, generator=g)).clamp(0, 1)


@pytest.fixture(scope="session")
def _tiny_trunk_files(tmp_path_factory) -> Path:
    """A folder holding both pretrained priors' files, each a random RRDBNet of the real depth
    (23 blocks, so every trunk level stays valid) but 8 channels wide: seconds instead of minutes
    where a test checks what SSR does with a trunk, not what the pretrained weights are."""
    from ssr.models.ncnn import write_rrdbnet
    from ssr.models.rrdbnet import PRIORS, RRDBNet

    folder = tmp_path_factory.mktemp("tiny_trunk")
    for i, prior in enumerate(PRIORS.values()):
        torch.manual_seed(100 + i)
        net = RRDBNet(8, 4, 23)
        for p in net.parameters():
            torch.nn.init.normal_(p, std=0.05)
        write_rrdbnet(net.eval(), folder / f"{prior.stem}.param", folder / f"{prior.stem}.bin")
    return folder


@pytest.fixture
def tiny_trunk(_tiny_trunk_files, monkeypatch) -> Path:
    """``$SSR_PRIOR_DIR`` pointed at the tiny trunks (subprocesses inherit it) for one test."""
    from ssr.models.rrdbnet import release_priors

    monkeypatch.setenv("SSR_PRIOR_DIR", str(_tiny_trunk_files))
    release_priors()
    yield _tiny_trunk_files
    release_priors()


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Every test leaves torch's thread count as it found it: a command run in-process with
    ``--threads 2`` would otherwise make every later test oversubscribe a one-core machine
    (measured: 10x slower training steps under ``taskset -c 0``)."""
    n = torch.get_num_threads()
    yield
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
