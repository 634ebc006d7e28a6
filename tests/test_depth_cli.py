"""``ssr depth`` and ``ssr train depth`` (the tiny config), end to end."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ssr.cli import main
from ssr.depth import get_depth_estimator
from ssr.io import read_image

from conftest import ROOT, textured


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _save(path: Path, h=40, w=56, seed=0):
    arr = (textured(h, w, seed).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def test_depth_single_image_with_raw_outputs(tmp_path, capsys):
    src = _save(tmp_path / "in.png")
    code, out, err = run(capsys, "depth", src, "-o", tmp_path / "d.png", "--raw", tmp_path / "d.npy")
    assert code == 0, err
    pic = read_image(tmp_path / "d.png")
    assert pic.size == (40, 56) and not pic.grayscale
    raw = np.load(tmp_path / "d.npy")
    assert raw.shape == (40, 56) and raw.dtype == np.float32 and raw.min() == 0.0 and raw.max() == 1.0
    code, _, err = run(capsys, "depth", src, "-o", tmp_path / "e.png", "--raw", tmp_path / "e16.png",
                       "--backend", "vertical", "--device", "cpu")
    assert code == 0, err
    with Image.open(tmp_path / "e16.png") as im:
        a = np.asarray(im)
    assert a.dtype == np.uint16 and a.shape == (40, 56) and a[0].max() == 0 and a[-1].min() == 65535
    code, _, _ = run(capsys, "depth", src, "-o", tmp_path / "f.png", "--raw", "npy")
    assert code == 0 and np.load(tmp_path / "f_raw.npy").shape == (40, 56)
    # the estimate in the file is the library's
    ref = get_depth_estimator("builtin").estimate(read_image(src).rgb[None])[0, 0].numpy()
    assert np.allclose(raw, ref, atol=1e-5)


def test_depth_folder_input(tmp_path, capsys):
    _save(tmp_path / "imgs" / "a.png")
    _save(tmp_path / "imgs" / "b.jpg", 30, 20, seed=1)
    code, out, err = run(capsys, "depth", tmp_path / "imgs", "-o", tmp_path / "out", "--raw", "png")
    assert code == 0, err
    assert read_image(tmp_path / "out" / "a_depth.png").size == (40, 56)
    assert read_image(tmp_path / "out" / "b_depth.png").size == (30, 20)
    assert (tmp_path / "out" / "b_depth16.png").is_file() and out.count("wrote") == 2


def test_depth_batch_goes_on_past_bad_pictures(tmp_path, capsys):
    _save(tmp_path / "imgs" / "a.png")
    (tmp_path / "imgs" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    _save(tmp_path / "imgs" / "c.png", 30, 20, seed=1)
    code, out, err = run(capsys, "depth", tmp_path / "imgs", "-o", tmp_path / "out")
    assert code == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_depth.png", "c_depth.png"]
    assert "b.png" in err and "1 of 3 inputs failed" in err and "Traceback" not in err
    assert out.count("wrote") == 2


@pytest.mark.parametrize("case", ["missing", "notimage", "rawext", "rawmulti", "backend", "outext", "same", "outfile"])
def test_depth_errors_are_one_line(tmp_path, capsys, case):
    src = _save(tmp_path / "in.png")
    (tmp_path / "bad.png").write_text("not an image")
    _save(tmp_path / "two" / "x.png")
    _save(tmp_path / "two" / "y.png")
    (tmp_path / "file.txt").write_text("x")
    argv = {
        "missing": ["depth", tmp_path / "nope.png", "-o", tmp_path / "o.png"],
        "notimage": ["depth", tmp_path / "bad.png", "-o", tmp_path / "o.png"],
        "rawext": ["depth", src, "-o", tmp_path / "o.png", "--raw", tmp_path / "o.txt"],
        "rawmulti": ["depth", tmp_path / "two", "-o", tmp_path / "o", "--raw", tmp_path / "r.npy"],
        "backend": ["depth", src, "-o", tmp_path / "o.png", "--backend", "hf:/no/such/model/folder"],
        "outext": ["depth", src, "-o", tmp_path / "o.xyz"],
        "same": ["depth", src, "-o", src],
        "outfile": ["depth", tmp_path / "two", "-o", tmp_path / "file.txt"],
    }[case]
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert read_image(src).size == (40, 56)  # the input is never overwritten


def _fake_rgbdd(root: Path, n: int = 4) -> Path:
    import cv2

    for i in range(n):
        _save(root / "RGB" / f"2020{i:04d}_RGB.jpg", 96, 128, seed=i)
        yy = np.linspace(3000, 800, 96, dtype=np.float32)[:, None].repeat(128, 1)
        (root / "Depth").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "Depth" / f"2020{i:04d}_HR_gt.png"), yy.astype(np.uint16))
    return root


def _train_tiny(capsys, tmp_path, data_root: Path | None):
    cfg = yaml.safe_load((ROOT / "configs" / "depth_tiny.yaml").read_text())
    assert cfg["steps"] <= 10
    cfg_path = ROOT / "configs" / "depth_tiny.yaml"
    if data_root is not None:
        cfg["data"]["root"] = str(data_root)
        cfg["data"]["holdout_every"] = 4
        cfg_path = tmp_path / "tiny.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg))
    code, out, err = run(capsys, "train", "depth", "--config", cfg_path, "--out", tmp_path / "run", "--device", "cpu")
    assert code == 0, err
    final = tmp_path / "run" / "final"
    est = get_depth_estimator(str(final))
    d = est.estimate(torch.rand(2, 3, 33, 45))
    assert d.shape == (2, 1, 33, 45) and float(d.min()) >= 0 and float(d.max()) <= 1
    return final


def test_train_depth_tiny_on_synthetic_pairs(tmp_path, capsys):
    _train_tiny(capsys, tmp_path, _fake_rgbdd(tmp_path / "RGBDD"))


def test_train_depth_tiny_config_on_rgbdd(tmp_path, capsys, datasets):
    if not (datasets / "depth" / "RGBDD").is_dir():
        pytest.skip("RGBDD not available")
    import json

    final = _train_tiny(capsys, tmp_path, None)
    extra = json.loads((final / "config.json").read_text())["extra"]
    assert extra["stage"] == "depth" and extra["train_pairs"] == 4 and "val" in extra


def _middlebury_and_nyu(datasets):
    from ssr.depth.data import load_pairs

    mb, nyu = datasets / "depth" / "Middlebury", datasets / "depth" / "NYUv2-3"
    if not mb.is_dir() or not nyu.is_dir():
        pytest.skip("Middlebury / NYUv2-3 not available")
    return load_pairs(mb, indices=[0, 10, 20]), load_pairs(nyu)


def test_evaluation_on_real_sets_beats_the_constant_prior(datasets):
    """The shipped network beats the constant map on Middlebury and NYUv2-3 pictures and the
    vertical gradient on NYUv2-3 (a smoke check of benchmarks/depth_eval.py)."""
    from ssr.depth.evaluate import evaluate_estimator

    mb, nyu = _middlebury_and_nyu(datasets)
    est = get_depth_estimator("builtin")
    for samples in (mb, nyu):
        ours = evaluate_estimator(est, samples)
        base = evaluate_estimator(get_depth_estimator("constant"), samples)
        assert ours["absrel"] < base["absrel"] and ours["delta1"] > base["delta1"], (ours, base)
    ours = evaluate_estimator(est, nyu)
    base = evaluate_estimator(get_depth_estimator("vertical"), nyu)
    assert ours["absrel"] < base["absrel"], (ours, base)


@pytest.mark.xfail(strict=True, reason="known gap (see the depth model card): the shipped network still loses to "
                   "the vertical-gradient prior on Middlebury; flip this when better weights land")
def test_evaluation_on_middlebury_beats_the_vertical_prior(datasets):
    from ssr.depth.evaluate import evaluate_estimator

    mb, _ = _middlebury_and_nyu(datasets)
    ours = evaluate_estimator(get_depth_estimator("builtin"), mb)
    base = evaluate_estimator(get_depth_estimator("vertical"), mb)
    assert ours["absrel"] < base["absrel"] and ours["delta1"] > base["delta1"], (ours, base)
