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


def test_dihedral_transforms_invert_and_differ():
    from ssr.svkr import dihedral

    x = torch.rand(2, 3, 5, 7)
    outs = [dihedral(x, g) for g in range(8)]
    assert torch.equal(outs[0], x)
    for g, y in enumerate(outs):
        assert torch.equal(dihedral(y, g, inverse=True), x)
    assert len({tuple(y.shape) + tuple(y.flatten().tolist()) for y in outs}) == 8  # all distinct


def test_self_ensemble_averages_the_eight_transforms_and_is_equivariant():
    from ssr.svkr import dihedral

    dk, nb = tiny_models()
    svkr = SVKR(dk, nb, get_depth_estimator("vertical"), rounds=2)
    lr = torch.rand(1, 3, 10, 14, generator=torch.Generator().manual_seed(1))
    plain = svkr(lr, use_depth=False)
    ens = svkr(lr, use_depth=False, ensemble=True)
    # without depth every round sees only the LR picture: the last round is the mean of the
    # 8 transformed runs mapped back
    fn = svkr._round_fn(False)
    with torch.no_grad():
        manual = sum(dihedral(fn(dihedral(lr, g))[0], g, inverse=True) for g in range(8)) / 8
    assert torch.allclose(ens.sr, manual.clamp(0, 1), atol=1e-5)
    assert not torch.allclose(ens.sr, plain.sr, atol=1e-4)
    assert torch.equal(ens.codes, plain.codes)  # codes / kernels are the identity transform's
    # the ensemble commutes with flips and quarter turns (the plain network does not)
    for g in (1, 4, 6):
        turned = svkr(dihedral(lr, g), use_depth=False, ensemble=True).sr
        assert torch.allclose(turned, dihedral(ens.sr, g), atol=1e-5)
    # with depth it runs and keeps the output shape
    out = svkr(lr, ensemble=True, return_kernels=True)
    assert out.sr.shape == (1, 3, 40, 56) and out.kernels.shape[-2:] == (10, 14)
