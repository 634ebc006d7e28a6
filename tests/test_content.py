"""Dead-leaves training content (ssr.train.content) and the stages' ``data.dead_leaves`` share."""
from pathlib import Path

import pytest
import torch

from ssr.errors import SSRError
from ssr.train import get_stage, load_config
from ssr.train.content import dead_leaves, leaf_owners

from conftest import textured
from tiny import image_folder

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _flat_share(x: torch.Tensor) -> float:
    """Share of pixels of ``... x 3 x H x W`` equal (all channels) to their right-hand neighbour."""
    return float((x[..., 1:] == x[..., :-1]).all(-3).float().mean())


def test_leaf_owners_cover_every_pixel_with_few_large_and_many_small_leaves():
    own = leaf_owners(96, _gen(0), r_min=2.0)
    assert own.shape == (96, 96) and int(own.min()) >= 0
    ids, counts = torch.unique(own, return_counts=True)
    assert ids.numel() > 20  # many leaves are visible
    # power-law sizes: the largest visible leaf covers far more than the median one
    assert counts.max() > 10 * counts.float().median()
    assert torch.equal(own, leaf_owners(96, _gen(0), r_min=2.0))  # a function of the generator


def test_dead_leaves_are_flat_inside_sharp_at_edges_and_layered_in_depth():
    colours = textured(64, 64, seed=1)
    img, depth = dead_leaves(64, _gen(3), colours, texture=None)
    assert img.shape == (3, 64, 64) and depth.shape == (1, 64, 64)
    assert 0 <= float(img.min()) and float(img.max()) <= 1
    assert float(depth.min()) == 0.0 and abs(float(depth.max()) - 1.0) < 1e-6
    # flat interiors: most pixels equal their right-hand neighbour exactly
    assert _flat_share(img) > 0.6
    # sharp edges: where colours change, they change within about one pixel (anti-aliased)
    step = (img[:, :, 1:] - img[:, :, :-1]).abs().amax(0)
    assert float(step.max()) > 0.2
    # every leaf colour is a colour of the natural crop (area-averaged only at edges)
    px = img[:, 10:54, 10:54].reshape(3, -1).T
    near = torch.cdist(px, colours.reshape(3, -1).T).amin(1) < 1e-5
    assert near.float().mean() > 0.5
    # the depth planes: the ramp makes depth vary, the planes make it jump at leaf borders
    assert float((depth[:, :, 1:] - depth[:, :, :-1]).abs().max()) > 0.1


def test_texture_lies_on_some_leaves_only():
    colours, tex = textured(64, 64, seed=1), textured(64, 64, seed=2)
    plain, _ = dead_leaves(64, _gen(5), colours, texture=None)
    rich, _ = dead_leaves(64, _gen(5), colours, texture=tex, texture_prob=0.5)
    diff = (rich - plain).abs().amax(0) > 1e-4
    assert 0.05 < float(diff.float().mean()) < 0.95  # textured and flat leaves side by side
    none, _ = dead_leaves(64, _gen(5), colours, texture=tex, texture_prob=0.0)
    assert torch.allclose(none, plain, atol=1e-6)


def _trainer(tmp_path, share: float):
    data = image_folder(tmp_path / "data", n=2, size=(48, 64))
    cls = get_stage("dkenet")
    over = {"stage": "dkenet", "data": {"roots": [str(data)], "dead_leaves": share}}
    return cls(load_config(CONFIGS / "dkenet_tiny.yaml", cls.defaults, over), tmp_path / f"dl{share}", device="cpu")


def test_stage_draws_dead_leaves_for_training_but_not_for_the_monitoring_batch(tmp_path):
    off, on = _trainer(tmp_path, 0.0), _trainer(tmp_path, 1.0)
    hr_off, depth_off, _ = off.sample_hr([0, 1])
    hr_on, depth_on, _ = on.sample_hr([0, 1])
    assert hr_on.shape == hr_off.shape and depth_on.shape == depth_off.shape
    assert not torch.equal(hr_on, hr_off)
    # the share 0 draws exactly the pool's crops (no extra random draw: other configs unchanged)
    from ssr.train.data import sample_generator

    ref = off.pool.crop_with_map(32, sample_generator(off.cfg["seed"], 0))
    assert torch.equal(hr_off[0], ref[0]) and torch.equal(depth_off[0], ref[1])
    # dead leaves: flat runs of equal pixels, which the textured test pictures do not have
    assert _flat_share(hr_on) > _flat_share(hr_off) + 0.2
    # the monitoring batch stays on the training pictures
    assert torch.equal(on.val_batch()["hr"], off.val_batch()["hr"])
    # and the stage trains on them
    loss, _ = on.training_step(on.make_batch([0, 1], on.device))
    assert torch.isfinite(loss)


@pytest.mark.parametrize("share", [1.5, -0.1, "half", True])
def test_a_share_outside_zero_to_one_is_a_clear_error(tmp_path, share):
    with pytest.raises(SSRError, match="data.dead_leaves must be a share"):
        _trainer(tmp_path, share)


def test_a_stage_without_image_depths_trains_on_dead_leaves(tmp_path):
    """The non-blind stage attaches no depth maps: dead-leaves crops then carry none either."""
    data = image_folder(tmp_path / "data", n=2, size=(48, 64))
    cls = get_stage("nonblind")
    cfg = load_config(CONFIGS / "nonblind_tiny.yaml", cls.defaults,
                      {"stage": "nonblind", "data": {"roots": [str(data)], "dead_leaves": 1.0}})
    trainer = cls(cfg, tmp_path / "nb", device="cpu")
    hr, depth, _ = trainer.sample_hr([0, 1])
    assert depth is None and hr.shape[0] == 2
    natural = trainer.pool.crop(32, _gen(0))
    assert _flat_share(hr) > _flat_share(natural) + 0.1  # flat leaf interiors
    assert trainer.fit().is_dir()
