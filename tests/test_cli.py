import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ssr import __version__
from ssr.cli import main
from ssr.io import read_image, write_image

from conftest import textured


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["degrade", "--help"])
    assert "--save-kernels" in capsys.readouterr().out


def test_degrade_sample_writes_everything(tmp_path, capsys):
    code, out, err = run(capsys, "degrade", "--sample", "-o", str(tmp_path / "lr.png"),
                         "--save-kernels", str(tmp_path / "k.png"), "--save-depth", str(tmp_path / "d.png"),
                         "--save-params", str(tmp_path / "p.json"))
    assert code == 0, err
    lr = read_image(tmp_path / "lr.png")
    assert lr.size == (96, 128)
    assert read_image(tmp_path / "k.png").size[0] >= 384
    assert read_image(tmp_path / "d.png").size == (384, 512)
    rec = json.loads((tmp_path / "p.json").read_text())
    assert rec["params"]["depth"] == "given" and rec["recipe"]["scale"] == 4


def test_degrade_is_reproducible_and_keeps_alpha_and_grey(tmp_path, capsys):
    arr = (textured(64, 48).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    rgba = np.concatenate([arr, np.full((64, 48, 1), 128, np.uint8)], 2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    for name in ("a.png", "b.png"):
        assert run(capsys, "degrade", str(tmp_path / "in.png"), "-o", str(tmp_path / name), "--seed", "5")[0] == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    out = read_image(tmp_path / "a.png")
    assert out.size == (16, 12) and out.alpha is not None
    assert out.alpha.mean().item() == pytest.approx(128 / 255, abs=0.01)
    Image.fromarray(arr[..., 0]).save(tmp_path / "grey.png")
    assert run(capsys, "degrade", str(tmp_path / "grey.png"), "-o", str(tmp_path / "g.png"), "--scale", "2")[0] == 0
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "L" and im.size == (24, 32)


@pytest.mark.parametrize("case", ["missing", "folder", "text", "truncated", "same", "tiny", "badext", "badconfig"])
def test_bad_inputs_give_one_line_errors(tmp_path, capsys, case):
    good = write_image(tmp_path / "good.png", textured(64, 64))
    before = good.read_bytes()
    args = {
        "missing": [str(tmp_path / "nope.png"), "-o", str(tmp_path / "o.png")],
        "folder": [str(tmp_path), "-o", str(tmp_path / "o.png")],
        "text": [str(tmp_path / "t.png"), "-o", str(tmp_path / "o.png")],
        "truncated": [str(tmp_path / "cut.png"), "-o", str(tmp_path / "o.png")],
        "same": [str(good), "-o", str(good)],
        "tiny": [str(tmp_path / "tiny.png"), "-o", str(tmp_path / "o.png")],
        "badext": [str(good), "-o", str(tmp_path / "o.gif2")],
        "badconfig": [str(good), "-o", str(tmp_path / "o.png"), "--config", str(tmp_path / "c.yaml")],
    }[case]
    (tmp_path / "t.png").write_text("hello")
    (tmp_path / "cut.png").write_bytes(before[: len(before) // 3])
    write_image(tmp_path / "tiny.png", textured(8, 8))
    (tmp_path / "c.yaml").write_text("field: {kind: wobbly}\n")
    code, out, err = run(capsys, "degrade", *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert good.read_bytes() == before
    assert not (tmp_path / "o.png").exists()


def test_console_script_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ssr", "degrade", str(tmp_path / "missing.jpg"), "-o",
                           str(tmp_path / "o.png")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: input not found: {tmp_path / 'missing.jpg'}"


def test_real_photo_from_shared_datasets(tmp_path, capsys, datasets):
    src = sorted((datasets / "eval" / "BSD100").glob("*"))[0]
    code, _, err = run(capsys, "degrade", str(src), "-o", str(tmp_path / "lr.png"), "--preset", "no-noise")
    assert code == 0, err
    hr = read_image(src)
    assert read_image(tmp_path / "lr.png").size == (hr.size[0] // 4, hr.size[1] // 4)
