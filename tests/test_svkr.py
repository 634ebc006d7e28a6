import pytest
import torch

from ssr.depth import get_depth_estimator
from ssr.svkr import SVKR

from tiny import tiny_models


class RecordingDepth:
    """Returns the constant c_t = t / 10 on call t, and records the SR images it was given."""

    def __init__(self):
        self.calls = []

    def estimate(self, images):
        self.calls.append(images.clone())
        return torch.full_like(images[:, :1], len(self.calls) / 10)


def test_loop_runs_t_rounds_with_the_momentum_update():
    dk, nb = tiny_models()
    depth = RecordingDepth()
    svkr = SVKR(dk, nb, depth, rounds=3, momentum=0.9)
    lr = torch.rand(1, 3, 12, 16)
    out = svkr(lr, return_rounds=True, return_kernels=True)
    assert len(depth.calls) == 3 and len(out.rounds) == 3
    # Eq. 2 with m = 0.9 as the update rate: D1 = .1, D2 = .9*.2 + .1*.1, D3 = .9*.3 + .1*D2
    d2 = 0.9 * 0.2 + 0.1 * 0.1
    assert torch.allclose(out.depth, torch.full_like(out.depth, 0.9 * 0.3 + 0.1 * d2))
    # each round's depth is estimated from the previous round's SR (the first from bicubic)
    assert torch.equal(depth.calls[1], out.rounds[0]["sr"]) and torch.equal(depth.calls[2], out.rounds[1]["sr"])
    assert out.sr.shape == (1, 3, 48, 64) and out.sr.min() >= 0 and out.sr.max() <= 1
    assert out.kernels.shape == (1, 81, 12, 16) and out.codes.shape == (1, 3, 12, 16)
    assert torch.allclose(out.kernels.sum(1), torch.ones(1, 12, 16), atol=1e-5)


def test_rounds_and_no_depth_options():
    dk, nb = tiny_models()
    depth = RecordingDepth()
    svkr = SVKR(dk, nb, depth, rounds=3)
    lr = torch.rand(1, 3, 10, 10)
    svkr(lr, rounds=1)
    assert len(depth.calls) == 1
    svkr(lr, use_depth=False)
    assert len(depth.calls) == 1  # no depth estimation at all
    with pytest.raises(Exception, match="at least one round"):
        svkr(lr, rounds=0)


def test_tiled_matches_untiled():
    dk, nb = tiny_models()
    svkr = SVKR(dk, nb, get_depth_estimator("vertical"), rounds=2)
    lr = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(0))
    full = svkr(lr).sr
    tiled = svkr(lr, tile=24, tile_overlap=12).sr
    mse = torch.mean((full - tiled) ** 2).item()
    assert 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-12))).item() > 40
