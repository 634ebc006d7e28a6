import numpy as np
import pytest
import torch
from PIL import Image

from ssr.cli import main
from ssr.io import read_image, write_image
from ssr.pipeline import SSRPipeline

from conftest import textured
from tiny import image_folder, tiny_pipeline


@pytest.fixture
def pipe_dir(tmp_path):
    return tiny_pipeline(tmp_path / "pipe")


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_pipeline_roundtrip_and_scales(pipe_dir, tmp_path):
    pipe = SSRPipeline.from_pretrained(pipe_dir, device="cpu")
    x = textured(20, 24)
    out = pipe(x, return_maps=True)
    assert out.image.shape == (1, 3, 80, 96) and out.depth.shape == (1, 1, 80, 96)
    assert out.kernel_codes.shape == (1, 3, 20, 24)
    assert pipe(x, scale=2).image.shape == (1, 3, 40, 48)
    pipe.save_pretrained(tmp_path / "copy")
    again = SSRPipeline.from_pretrained(tmp_path / "copy", device="cpu")
    assert torch.equal(again(x).image, out.image)


def test_upscale_file_folder_and_resume(pipe_dir, tmp_path, capsys):
    src = image_folder(tmp_path / "in", n=2, size=(16, 20))
    code, out, err = run(capsys, "upscale", str(src / "img0.png"), "-o", str(tmp_path / "one.png"),
                         "--weights", str(pipe_dir), "--save-depth", "--save-kernels")
    assert code == 0, err
    assert read_image(tmp_path / "one.png").size == (64, 80)
    assert (tmp_path / "one_depth.png").is_file() and (tmp_path / "one_kernels.png").is_file()
    conf = read_image(tmp_path / "one_kernel_confidence.png").rgb
    assert conf.shape == read_image(tmp_path / "one.png").rgb.shape  # drawn at the output's size
    code, _, err = run(capsys, "upscale", str(src), "-o", str(tmp_path / "out"), "--weights", str(pipe_dir),
                       "--tile", "8", "--tile-overlap", "4")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png", "img1.png"]
    stamp = (tmp_path / "out" / "img0.png").stat().st_mtime_ns
    code, out, _ = run(capsys, "upscale", str(src), "-o", str(tmp_path / "out"), "--weights", str(pipe_dir), "--resume")
    assert code == 0 and "nothing to do" in out
    assert (tmp_path / "out" / "img0.png").stat().st_mtime_ns == stamp


def test_upscale_keeps_alpha_grey_and_16bit(pipe_dir, tmp_path, capsys):
    arr = (textured(12, 10).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(np.concatenate([arr, np.full((12, 10, 1), 200, np.uint8)], 2), "RGBA").save(tmp_path / "a.png")
    assert run(capsys, "upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "a4.png"), "--weights", str(pipe_dir))[0] == 0
    out = read_image(tmp_path / "a4.png")
    assert out.size == (48, 40) and out.alpha is not None and abs(out.alpha.mean().item() - 200 / 255) < 0.01
    Image.fromarray(arr[..., 1]).save(tmp_path / "g.png")
    assert run(capsys, "upscale", str(tmp_path / "g.png"), "-o", str(tmp_path / "g4.png"), "--weights", str(pipe_dir))[0] == 0
    with Image.open(tmp_path / "g4.png") as im:
        assert im.mode == "L"
    write_image(tmp_path / "d.png", textured(12, 10), bit_depth=16)
    assert run(capsys, "upscale", str(tmp_path / "d.png"), "-o", str(tmp_path / "d4.png"), "--weights", str(pipe_dir))[0] == 0
    assert read_image(tmp_path / "d4.png").bit_depth == 16


def test_upscale_sample(pipe_dir, tmp_path, capsys):
    code, _, err = run(capsys, "upscale", "--sample", "-o", str(tmp_path / "s.png"), "--weights", str(pipe_dir),
                       "--svkr-rounds", "1")
    assert code == 0, err
    assert read_image(tmp_path / "s.png").size == (96 * 4, 128 * 4)


@pytest.mark.parametrize("case", ["missing", "many-to-file", "rounds", "same", "noweights", "tiny", "noinput",
                                  "sample-and-input", "tile", "overlap"])
def test_upscale_errors(pipe_dir, tmp_path, capsys, case):
    src = image_folder(tmp_path / "in", n=2, size=(16, 16))
    good = src / "img0.png"
    before = good.read_bytes()
    write_image(tmp_path / "tiny.png", textured(2, 2))
    args = {
        "missing": [str(tmp_path / "nope.png"), "-o", str(tmp_path / "o.png"), "--weights", str(pipe_dir)],
        "many-to-file": [str(src), "-o", str(tmp_path / "o.png"), "--weights", str(pipe_dir)],
        "rounds": [str(good), "-o", str(tmp_path / "o.png"), "--svkr-rounds", "0", "--weights", str(pipe_dir)],
        "same": [str(good), "-o", str(good), "--weights", str(pipe_dir)],
        "noweights": [str(good), "-o", str(tmp_path / "o.png"), "--weights", str(tmp_path)],
        "tiny": [str(tmp_path / "tiny.png"), "-o", str(tmp_path / "o.png"), "--weights", str(pipe_dir)],
        "noinput": ["-o", str(tmp_path / "o.png"), "--weights", str(pipe_dir)],
        "sample-and-input": [str(good), "--sample", "-o", str(tmp_path / "o.png"), "--weights", str(pipe_dir)],
        "tile": [str(good), "-o", str(tmp_path / "o.png"), "--tile", "-5", "--weights", str(pipe_dir)],
        "overlap": [str(good), "-o", str(tmp_path / "o.png"), "--tile-overlap", "-1", "--weights", str(pipe_dir)],
    }[case]
    code, _, err = run(capsys, "upscale", *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    assert good.read_bytes() == before and not (tmp_path / "o.png").exists()


def test_upscale_precision(pipe_dir, tmp_path, capsys):
    src = image_folder(tmp_path / "in", n=1, size=(16, 20))
    for prec, word in (("bf16", "bfloat16"), ("fp32", "float32")):
        code, out, err = run(capsys, "upscale", str(src / "img0.png"), "-o", str(tmp_path / f"{prec}.png"),
                             "--weights", str(pipe_dir), "--precision", prec, "--svkr-rounds", "1")
        assert code == 0, err
        assert f"on cpu, {word}" in out
    a, b = read_image(tmp_path / "bf16.png").rgb, read_image(tmp_path / "fp32.png").rgb
    assert (a - b).abs().max() <= 2 / 255


def test_upscale_self_ensemble(pipe_dir, tmp_path, capsys):
    src = image_folder(tmp_path / "in", n=1, size=(16, 20))
    outs = {}
    for flag in ((), ("--ensemble",)):
        dst = tmp_path / f"e{len(flag)}.png"
        code, out, err = run(capsys, "upscale", str(src / "img0.png"), "-o", str(dst), "--weights", str(pipe_dir),
                             "--no-diffusion", "--precision", "fp32", *flag)
        assert code == 0, err
        assert ("self-ensemble x8" in out) == bool(flag)
        outs[bool(flag)] = read_image(dst).rgb
    assert outs[True].shape == outs[False].shape == (3, 64, 80)
    assert not torch.equal(outs[True], outs[False])
    # the pipeline call: the ensembled image equals SVKR's ensembled output
    pipe = SSRPipeline.from_pretrained(pipe_dir, device="cpu")
    x = textured(16, 20)
    direct = pipe.svkr(x.unsqueeze(0), ensemble=True).sr
    assert torch.allclose(pipe(x, diffusion=False, ensemble=True, precision="fp32").image, direct, atol=1e-6)


def test_upscale_batch_goes_on_past_bad_pictures(pipe_dir, tmp_path, capsys):
    """A picture that cannot be read or is too small fails alone: the others are written and the
    exit status says some failed."""
    src = image_folder(tmp_path / "in", n=2, size=(16, 16))
    write_image(src / "a_tiny.png", textured(2, 2))
    (src / "b_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, out, err = run(capsys, "upscale", str(src), "-o", str(tmp_path / "out"), "--weights", str(pipe_dir),
                         "--no-diffusion")
    assert code == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png", "img1.png"]
    assert read_image(tmp_path / "out" / "img1.png").size == (64, 64)
    # one line each on stderr (as ssr depth), refused from the header before the models load
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert any("a_tiny.png" in ln and "too small" in ln for ln in lines)
    assert any("b_broken.png" in ln for ln in lines)
    assert "2 of 4 inputs failed" in err and "Traceback" not in err + out


def test_upscale_keep_bokeh(pipe_dir, tmp_path, capsys):
    """--keep-bokeh runs the depth-of-field mode: the same picture as the pipeline call with
    keep_bokeh, which conditions the last round on one camera kernel."""
    src = image_folder(tmp_path / "in", n=1, size=(16, 20))
    dst = tmp_path / "bokeh.png"
    code, out, err = run(capsys, "upscale", str(src / "img0.png"), "-o", str(dst), "--weights", str(pipe_dir),
                         "--no-diffusion", "--precision", "fp32", "--keep-bokeh")
    assert code == 0, err
    assert "keeping the scene's defocus" in out
    pipe = SSRPipeline.from_pretrained(pipe_dir, device="cpu")
    res = pipe(read_image(src / "img0.png").rgb, diffusion=False, keep_bokeh=True, precision="fp32")
    assert res.camera_kernel is not None and res.camera_kernel.shape[0] == 1
    want = (res.image[0].clamp(0, 1) * 255).round() / 255
    assert torch.allclose(read_image(dst).rgb, want, atol=1 / 255 + 1e-6)
