"""Procedural RGB-D scenes (``ssr.depth.synth``) and their use by ``ssr train depth``."""
import json
import math

import numpy as np
import pytest
import yaml

from ssr.depth import synth
from ssr.depth.synth import SynthConfig, cached_pool, render_pool, render_scene

from conftest import ROOT, textured


def _textures(n=3):
    return [textured(40, 56, seed=i).permute(1, 2, 0).numpy().copy() for i in range(n)]


def _ray(d):
    return np.zeros((1, 3), np.float32), np.asarray([d], np.float32)


def test_intersections_give_z_depth_and_facing_normals():
    o, d = _ray((0.0, 0.0, 1.0))
    t, n, _ = synth._sphere(o, d, np.array([0, 0, 5], np.float32), 1.0)
    assert t[0] == pytest.approx(4.0) and np.allclose(n[0], (0, 0, -1), atol=1e-6)
    t, n, _ = synth._box(o, d, np.array([0, 0, 5], np.float32), np.array([1, 1, 1], np.float32), 0.0)
    assert t[0] == pytest.approx(4.0) and np.allclose(n[0], (0, 0, -1))
    # a box turned by 45 degrees shows its edge: hit at 5 - sqrt(2)
    t, _, _ = synth._box(o, d, np.array([0, 0, 5], np.float32), np.array([1, 1, 1], np.float32), math.pi / 4)
    assert t[0] == pytest.approx(5 - math.sqrt(2), abs=1e-5)
    t, n, _ = synth._cylinder(o, d, np.array([0, -1, 5], np.float32), 0.5, 2.0)
    assert t[0] == pytest.approx(4.5) and np.allclose(n[0], (0, 0, -1), atol=1e-6)
    # seen from above, the top cap
    o2, d2 = np.array([[0, 3, 5]], np.float32), np.array([[0, -1, 0]], np.float32)
    t, n, _ = synth._cylinder(o2, d2, np.array([0, 0, 5], np.float32), 0.5, 1.0)
    assert t[0] == pytest.approx(2.0) and np.allclose(n[0], (0, 1, 0))
    # the z-depth, not the distance: an oblique ray (not normalised, z component 1) to a plane
    o3, d3 = _ray((0.5, 0.0, 1.0))
    t, _, _ = synth._plane(o3, d3, (0, 0, 4), (0, 0, -1), ((1, 0, 0), (0, 1, 0)))
    assert t[0] == pytest.approx(4.0)
    # misses and back faces
    o4, d4 = _ray((0.0, 1.0, 0.0))
    assert np.isinf(synth._sphere(o4, d4, np.array([0, 0, 5], np.float32), 1.0)[0][0])
    assert np.isinf(synth._plane(o, d, (0, 0, 4), (0, 0, 1), ((1, 0, 0), (0, 1, 0)))[0][0])


def test_ground_plane_depth_is_exact():
    """Level camera, no objects, no wall: below the horizon the inverse depth of row v is
    (v + 0.5 - H/2) / (f h), the same in every column."""
    cfg = SynthConfig(size=(48, 64), supersample=1, objects=(0, 0), wall_prob=0.0, pitch=(0, 0), roll=(0, 0),
                      hfov=(60, 60), height=(1.0, 1.0), fog_prob=0.0)
    rgb, inv = render_scene(np.random.default_rng(0), _textures(), cfg)
    assert rgb.shape == (48, 64, 3) and inv.shape == (48, 64)
    f = 32 / math.tan(math.radians(30))
    rows = np.arange(30, 48)
    expect = (rows + 0.5 - 24) / f
    assert np.allclose(inv[rows], expect[:, None], rtol=1e-4)
    # above the horizon: the backdrop at sky_depth
    assert np.allclose(inv[:20], 1 / cfg.sky_depth)


def test_scenes_are_valid_deterministic_and_varied():
    tex = _textures()
    cfg = SynthConfig(size=(24, 32))
    a = render_scene(np.random.default_rng([5, 0]), tex, cfg)
    b = render_scene(np.random.default_rng([5, 0]), tex, cfg)
    c = render_scene(np.random.default_rng([5, 1]), tex, cfg)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    for rgb, inv in (a, c):
        assert rgb.dtype == np.float32 and rgb.min() >= 0 and rgb.max() <= 1
        assert np.isfinite(inv).all() and inv.min() > 0
    # objects standing on the ground: with many of them, some pixels are nearer than the
    # level ground behind them would be
    cfg = SynthConfig(size=(48, 64), supersample=1, objects=(8, 8), wall_prob=1.0, pitch=(0, 0), roll=(0, 0),
                      hfov=(60, 60), height=(1.0, 1.0), float_prob=0.0)
    plain = SynthConfig(**{**vars(cfg), "objects": (0, 0)})
    _, with_obj = render_scene(np.random.default_rng(3), tex, cfg)
    _, without = render_scene(np.random.default_rng(3), tex, plain)
    assert (with_obj > without * 1.01).mean() > 0.01


def test_cached_pool_matches_render_and_is_reused(tmp_path, monkeypatch):
    tex = _textures()
    cfg = SynthConfig(size=(16, 24))
    rgb, inv = cached_pool(4, 9, tex, cfg, cache=tmp_path, workers=2)
    ref_rgb, ref_inv = render_pool(4, 9, tex, cfg)
    assert rgb.dtype == np.uint8 and inv.dtype == np.float16 and rgb.shape == (4, 16, 24, 3)
    assert np.array_equal(rgb, ref_rgb) and np.array_equal(inv, ref_inv)
    assert np.allclose(np.median(inv.astype(np.float32).reshape(4, -1), 1), 1, atol=1e-2)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    monkeypatch.setattr(synth, "render_pool", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-rendered")))
    again = cached_pool(4, 9, tex, cfg, cache=tmp_path)
    assert np.array_equal(again[0], rgb)
    # another config is another file
    with pytest.raises(AssertionError, match="re-rendered"):
        cached_pool(4, 9, tex, SynthConfig(size=(16, 24), objects=(1, 1)), cache=tmp_path)


def test_train_depth_with_procedural_scenes(tmp_path, capsys):
    from test_depth_cli import _fake_rgbdd, _save, run

    rgbdd = _fake_rgbdd(tmp_path / "RGBDD")
    for i in range(3):
        _save(tmp_path / "tex" / f"t{i}.png", 40, 56, seed=10 + i)
    cfg = yaml.safe_load((ROOT / "configs" / "depth_tiny.yaml").read_text())
    cfg["data"].update(root=str(rgbdd), holdout_every=4)
    cfg["data"]["synth"] = {"prob": 0.5, "count": 6, "val": 2, "size": [48, 64], "textures": str(tmp_path / "tex"),
                            "cache": str(tmp_path / "cache")}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, _, err = run(capsys, "train", "depth", "--config", path, "--out", tmp_path / "run", "--device", "cpu")
    assert code == 0, err
    extra = json.loads((tmp_path / "run" / "final" / "config.json").read_text())["extra"]
    assert extra["synth_scenes"] == 6 and extra["synth_prob"] == 0.5
    assert 0 <= extra["val"]["val_synth_absrel"] < 10
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2      # training and validation scenes


def test_depth_eval_on_validation_sets(tmp_path, monkeypatch, capsys):
    """benchmarks/depth_eval.py --sets: the RGBDD hold-out and the procedural validation scenes
    (what the trained networks are chosen on), never the evaluation sets."""
    import sys

    from test_depth_cli import _fake_rgbdd, _save

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import depth_eval

    _fake_rgbdd(tmp_path / "depth" / "RGBDD", n=21)
    for i in range(2):
        _save(tmp_path / "train" / f"t{i}.png", 40, 56, seed=i)
    monkeypatch.setattr(depth_eval, "SYNTH_VAL_COUNT", 3)
    monkeypatch.setattr(depth_eval, "SYNTH_VAL_SIZE", (24, 32))
    code = depth_eval.main(["--data", str(tmp_path / "depth"), "--sets", "RGBDD-val,synth-val", "--backends",
                            "vertical,constant", "--degraded", "", "--runs", "0", "--threads", "1",
                            "--json", str(tmp_path / "r.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert "RGBDD-val AbsRel" in out and "synth-val AbsRel" in out and "Middlebury" not in out
    res = json.loads((tmp_path / "r.json").read_text())["results"]
    vertical, constant = res
    # the fake RGBDD depth grows toward the top: the vertical prior is close, a constant is not
    assert vertical["RGBDD-val"]["absrel"] < 0.1 < constant["RGBDD-val"]["absrel"]
    assert len(depth_eval.load_set(tmp_path / "depth", "RGBDD-val")) == 2   # pairs 0 and 20
    assert 0 < vertical["synth-val"]["absrel"] < 1
    with pytest.raises(SystemExit):
        depth_eval.main(["--data", str(tmp_path / "depth"), "--sets", "Nowhere"])


def test_cone_intersection_is_exact():
    # a cone of base radius 1, height 2 on the ground at z = 5, seen level at height 0.5:
    # the surface radius there is 1 * (2 - 0.5) / 2 = 0.75, so the hit is at z = 5 - 0.75
    o, d = np.array([[0, 0.5, 0]], np.float32), np.array([[0, 0, 1]], np.float32)
    t, n, _ = synth._cone(o, d, np.array([0, 0, 5], np.float32), 1.0, 2.0)
    assert t[0] == pytest.approx(4.25, abs=1e-5)
    assert n[0, 2] < 0 and n[0, 1] > 0 and np.linalg.norm(n[0]) == pytest.approx(1, abs=1e-5)
    # above the apex and beside the base: misses
    o2 = np.array([[0, 2.5, 0], [3, 0.5, 0]], np.float32)
    assert np.isinf(synth._cone(o2, np.array([0, 0, 1], np.float32), np.array([0, 0, 5], np.float32), 1.0, 2.0)[0]).all()
    # straight down onto the apex region: hits the slanted side, never below the ground
    o3, d3 = np.array([[0.5, 5, 5]], np.float32), np.array([[0, -1, 0]], np.float32)
    t, _, _ = synth._cone(o3, d3, np.array([0, 0, 5], np.float32), 1.0, 2.0)
    assert t[0] == pytest.approx(5 - 1.0, abs=1e-5)       # radius 0.5 at height 1


def test_richer_scenes_keep_the_default_stream_and_parse_from_config():
    tex = _textures()
    base = SynthConfig(size=(24, 32))
    # the new options are off by default and draw nothing from the stream
    same = SynthConfig(size=(24, 32), cone_prob=0.0, tabletop_prob=0.0)
    a, b = render_scene(np.random.default_rng([4, 2]), tex, base), render_scene(np.random.default_rng([4, 2]), tex, same)
    assert np.array_equal(a[1], b[1])
    rich = synth.synth_config({"size": [24, 32], "scene": {"cone_prob": 1.0, "stack_prob": 0.5, "tabletop_prob": 1.0,
                                                           "tabletop_objects": [6, 6]}})
    assert rich.size == (24, 32) and rich.tabletop_objects == (6, 6) and rich.cone_prob == 1.0
    for k in range(3):
        rgb, inv = render_scene(np.random.default_rng([4, k]), tex, rich)
        assert np.isfinite(inv).all() and inv.min() > 0 and 0 <= rgb.min() and rgb.max() <= 1
        # close-up table tops always have a wall: no ray reaches the far backdrop
        assert inv.min() > 10 / rich.sky_depth
    with pytest.raises(Exception, match="unknown data.synth.scene key"):
        synth.synth_config({"size": [24, 32], "scene": {"cones": 1}})
