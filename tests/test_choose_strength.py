"""research/choose_strength.py: the rule that picks the diffusion stage's default setting."""
import csv
import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "research"))
import choose_strength  # noqa: E402


def _bench_csv(path, names, psnr, ssim=0.5):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "method", "image", "psnr", "ssim", "niqe", "seconds"])
        for n in names:
            w.writerow(["val", "realesrgan", n, psnr, ssim, 4.0, 1.0])
            w.writerow(["val", "bicubic", n, psnr + 5, 0.5, 9.0, 1.0])


def _sweep(path, solver, names, table):
    """``table``: (strength, psnr, niqe[, ssim]) rows (SSIM 0.5 unless given)."""
    means = {str((1.0, "auto", r[0])): {"psnr": r[1], "ssim": r[3] if len(r) > 3 else 0.5, "niqe": r[2]}
             for r in table}
    means[str((0.5, "auto", 0.25))] = {"psnr": 99.0, "ssim": 0.9, "niqe": 0.1}   # another start: ignored
    path.write_text(json.dumps({"command": ["amf_sensitivity.py", "--scheduler", solver], "pictures": names,
                                "means": {"strength": means}}))


def test_lowest_niqe_above_the_psnr_floor(tmp_path, capsys):
    names = ["a.png", "b.png"]
    _bench_csv(tmp_path / "b.csv", names, 24.0)
    _sweep(tmp_path / "u.json", "unipc", names, [(0.0, 25.0, 7.0), (0.5, 24.1, 5.2), (1.0, 23.0, 4.0)])
    _sweep(tmp_path / "d.json", "dpm++", names, [(0.0, 25.0, 7.0), (0.5, 24.5, 5.5)])
    assert choose_strength.main([str(tmp_path / "b.csv"), str(tmp_path / "u.json"), str(tmp_path / "d.json")]) == 0
    out = capsys.readouterr().out
    # strength 1 has the lowest NIQE but falls below Real-ESRGAN's PSNR; the other start is ignored
    assert "chosen: solver unipc, strength 0.5" in out
    _bench_csv(tmp_path / "b.csv", names, 26.0)      # nothing reaches the floor
    assert choose_strength.main([str(tmp_path / "b.csv"), str(tmp_path / "u.json")]) == 1


def test_the_ssim_floor_rules_out_grainy_settings(tmp_path, capsys):
    names = ["a.png"]
    _bench_csv(tmp_path / "b.csv", names, 24.0, ssim=0.55)
    _sweep(tmp_path / "u.json", "unipc", names, [(0.25, 25.1, 5.4, 0.56), (0.5, 24.4, 5.2, 0.48)])
    assert choose_strength.main([str(tmp_path / "b.csv"), str(tmp_path / "u.json")]) == 0
    assert "strength 0.25" in capsys.readouterr().out
    assert choose_strength.main([str(tmp_path / "b.csv"), str(tmp_path / "u.json"), "--floors", "psnr"]) == 0
    assert "strength 0.5" in capsys.readouterr().out


def test_other_pictures_are_refused(tmp_path):
    _bench_csv(tmp_path / "b.csv", ["a.png"], 24.0)
    _sweep(tmp_path / "u.json", "unipc", ["z.png"], [(0.5, 24.1, 5.2)])
    with pytest.raises(SystemExit, match="other pictures"):
        choose_strength.main([str(tmp_path / "b.csv"), str(tmp_path / "u.json")])


def test_choose_realism_takes_the_lowest_niqe_above_the_floors(tmp_path, capsys):
    import csv
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "research"))
    import choose_realism

    rows = [("realesrgan", 25.0, 0.70, 5.0), ("ssr-fidelity", 27.0, 0.80, 7.0), ("ssr-realism-0.5", 26.0, 0.75, 5.5),
            ("ssr-realism-1", 24.0, 0.72, 4.5)]
    path = tmp_path / "per_image.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "method", "image", "psnr", "ssim", "niqe", "seconds"])
        for m, p, s, n in rows:
            for i in range(2):
                w.writerow(["val", m, f"im{i}", p + i * 0.1, s, n, 1.0])
    assert choose_realism.main([str(path)]) == 0
    assert "chosen: realism 0.5" in capsys.readouterr().out  # 1 has a lower NIQE but misses the PSNR floor
    assert choose_realism.main([str(path), "--baseline", "ssr-fidelity"]) == 0
    assert "chosen: realism 0 " in capsys.readouterr().out
