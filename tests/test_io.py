import io as _io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from ssr.errors import SSRError
from ssr.io import list_images, read_depth, read_image, write_image, write_json

from conftest import textured


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_roundtrip_8bit(tmp_path, ext):
    x = torch.round(textured(20, 30) * 255) / 255
    p = write_image(tmp_path / f"a{ext}", x) if ext != ".webp" else None
    if ext == ".webp":  # Pillow's WebP is lossy by default: check the size and closeness only
        p = write_image(tmp_path / "a.webp", x, quality=100)
        y = read_image(p)
        assert y.rgb.shape == (3, 20, 30) and (y.rgb - x).abs().mean() < 0.03
        return
    y = read_image(p)
    assert y.bit_depth == 8 and not y.grayscale and y.alpha is None
    assert torch.equal(y.rgb, x)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_roundtrip(tmp_path, ext):
    x = torch.round(textured(20, 30) * 65535) / 65535
    y = read_image(write_image(tmp_path / f"a{ext}", x, bit_depth=16))
    assert y.bit_depth == 16
    assert (y.rgb - x).abs().max() < 1e-6
    g = read_image(write_image(tmp_path / f"g{ext}", x, bit_depth=16, grayscale=True))
    assert g.grayscale and g.bit_depth == 16 and g.rgb.shape == (3, 20, 30)
    assert torch.equal(g.rgb[0], g.rgb[2])


def test_jpeg_and_grayscale(tmp_path):
    x = textured(32, 32)
    y = read_image(write_image(tmp_path / "a.jpg", x, quality=95))
    assert (y.rgb - x).abs().mean() < 0.03
    Image.fromarray((np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)).save(tmp_path / "g.png")
    g = read_image(tmp_path / "g.png")
    assert g.grayscale and g.rgb.shape == (3, 8, 8) and torch.equal(g.rgb[0], g.rgb[1])


def test_rgba_alpha_is_kept_separately(tmp_path):
    arr = np.zeros((10, 12, 4), np.uint8)
    arr[..., 0] = 200
    arr[..., 3] = np.linspace(0, 255, 12).astype(np.uint8)[None]
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    y = read_image(tmp_path / "a.png")
    assert y.alpha is not None and y.alpha.shape == (1, 10, 12)
    assert y.rgb[0].max().item() == pytest.approx(200 / 255)  # colour not premultiplied
    assert y.alpha[0, 0, -1].item() == pytest.approx(1.0)
    z = read_image(write_image(tmp_path / "b.png", y.rgb, y.alpha))
    assert torch.allclose(z.alpha, y.alpha)
    # palette image with transparency becomes RGB + alpha
    Image.fromarray(arr, "RGBA").convert("P").save(tmp_path / "p.png", transparency=0)
    assert read_image(tmp_path / "p.png").rgb.shape == (3, 10, 12)


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[0:4, 0:4] = [255, 0, 0]  # red top-left in storage
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "o.jpg", exif=exif, quality=100)
    y = read_image(tmp_path / "o.jpg")
    assert y.rgb.shape == (3, 20, 10)
    assert y.rgb[0, 1, -2] > 0.8 and y.rgb[0, -2, 1] < 0.2  # red is now top-right
    # also for 16-bit colour PNGs read through the second decoder
    x16 = torch.zeros(3, 10, 20)
    x16[0, 0, 0] = 1
    p = write_image(tmp_path / "o16.png", x16, bit_depth=16)
    assert read_image(p).rgb.shape == (3, 10, 20)


def test_errors_are_clear(tmp_path):
    with pytest.raises(SSRError, match="not found"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(SSRError, match="folder"):
        read_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(SSRError, match="empty"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "notes.png").write_text("this is not an image")
    with pytest.raises(SSRError, match="not an image"):
        read_image(tmp_path / "notes.png")
    for ext, fmt in ((".png", "PNG"), (".jpg", "JPEG")):
        buf = _io.BytesIO()
        Image.fromarray((np.random.rand(64, 64, 3) * 255).astype(np.uint8)).save(buf, format=fmt)
        data = buf.getvalue()
        (tmp_path / f"cut{ext}").write_bytes(data[: len(data) // 2])
        with pytest.raises(SSRError, match="truncated or corrupt"):
            read_image(tmp_path / f"cut{ext}")


def test_write_is_atomic_and_protects_inputs(tmp_path, monkeypatch):
    x = textured(8, 8)
    src = write_image(tmp_path / "in.png", x)
    before = src.read_bytes()
    with pytest.raises(SSRError, match="refusing to overwrite"):
        write_image(tmp_path / "in.png", x * 0.5, protect=[src])
    assert src.read_bytes() == before
    with pytest.raises(SSRError, match="unknown image extension"):
        write_image(tmp_path / "out.xyz", x)

    import ssr.io as ssr_io

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ssr_io, "_encode", boom)
    with pytest.raises(SSRError, match="disk full"):
        write_image(tmp_path / "out.png", x)
    assert sorted(os.listdir(tmp_path)) == ["in.png"]  # no partial or temporary file left


def test_unwritable_places_are_one_line_errors(tmp_path):
    from ssr.io import write_json

    (tmp_path / "file").write_text("x")
    x = textured(8, 8)
    # the output's folder would have to be made inside a file
    with pytest.raises(SSRError, match=r"cannot write .*out\.png"):
        write_image(tmp_path / "file" / "out.png", x)
    with pytest.raises(SSRError, match=r"cannot write .*out\.json"):
        write_json(tmp_path / "file" / "out.json", {"a": 1})
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_list_images_and_json(tmp_path):
    write_image(tmp_path / "b.png", textured(8, 8))
    write_image(tmp_path / "a.jpg", textured(8, 8))
    (tmp_path / "readme.txt").write_text("x")
    assert [p.name for p in list_images([tmp_path])] == ["a.jpg", "b.png"]
    (tmp_path / "sub").mkdir()
    with pytest.raises(SSRError, match="no images"):
        list_images([tmp_path / "sub"])
    write_json(tmp_path / "p.json", {"t": torch.tensor([1.0, 2.0])})
    assert "1.0" in (tmp_path / "p.json").read_text()


def test_read_depth_conventions(tmp_path):
    z = np.linspace(1, 4, 20, dtype=np.float32).reshape(4, 5)  # metric depth, grows with distance
    np.save(tmp_path / "z.npy", z)
    inv = read_depth(tmp_path / "z.npy", distance=True)
    assert inv.shape == (1, 4, 5) and inv.min() == 0 and inv.max() == 1
    assert inv[0, 0, 0] == 1  # nearest is brightest
    direct = read_depth(tmp_path / "z.npy")
    assert direct[0, -1, -1] == 1
    write_image(tmp_path / "d.png", torch.linspace(0, 1, 20).view(1, 4, 5), bit_depth=16)
    assert read_depth(tmp_path / "d.png").shape == (1, 4, 5)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_streamed_png_writer_round_trips(tmp_path, monkeypatch, channels, dtype):
    """Large pictures are written band by band (bounded memory); the file decodes to the exact
    values, whatever the band size, channels and bit depth."""
    import cv2

    import ssr.io as sio

    monkeypatch.setattr(sio, "_PNG_BAND_BYTES", 500)  # many bands on a small picture
    peak = np.iinfo(dtype).max
    q = np.random.default_rng(channels).integers(0, peak + 1, size=(37, 29, channels)).astype(dtype)
    q[5:9] = q[4]  # repeated rows (the Up filter's zero case)
    path = tmp_path / "x.png"
    sio._write_png_streamed(path, q)
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    back = back[..., None] if back.ndim == 2 else back
    if channels >= 3:
        back = back[..., [2, 1, 0, 3][:channels]]
    if channels == 2:  # cv2 reads grey + alpha as BGRA
        back = back[..., [0, 3]]
    assert back.dtype == dtype and np.array_equal(back, q)


def test_large_pictures_take_the_streamed_writer(tmp_path, monkeypatch):
    import ssr.io as sio

    monkeypatch.setattr(sio, "STREAMED_PNG_PIXELS", 100)
    calls = []
    real = sio._write_png_streamed
    monkeypatch.setattr(sio, "_write_png_streamed", lambda p, q: calls.append(q.shape) or real(p, q))
    img = torch.rand(3, 20, 30)
    write_image(tmp_path / "big.png", img)
    assert calls == [(20, 30, 3)]
    assert torch.allclose(read_image(tmp_path / "big.png").rgb, (img * 255).round() / 255, atol=1e-6)


def test_protected_refuses_the_input_by_any_name(tmp_path):
    """An input is never overwritten, named directly, through a symlink or a hard link; other
    paths (existing or not) are free; one Protected serves a whole batch."""
    from ssr.io import Protected, write_image

    src = tmp_path / "in.png"
    write_image(src, torch.rand(3, 4, 5))
    before = src.read_bytes()
    (tmp_path / "link.png").symlink_to(src)
    os.link(src, tmp_path / "hard.png")
    guard = Protected([src, tmp_path / "missing.png"])
    for name in ("in.png", "link.png", "hard.png", "./in.png"):
        assert guard.which(tmp_path / name) == str(src), name
        with pytest.raises(SSRError, match="refusing to overwrite the input file"):
            write_image(tmp_path / name, torch.rand(3, 4, 5), protect=guard)
    assert src.read_bytes() == before
    other = tmp_path / "other.png"
    write_image(other, torch.rand(3, 4, 5))
    assert guard.which(other) is None and guard.which(tmp_path / "new.png") is None
    assert guard.which(tmp_path / "missing.png") == str(tmp_path / "missing.png")  # by name, before it exists
    both = guard + [other]
    assert both.which(other) == str(other) and guard.which(other) is None  # + leaves the original as it is
    write_image(tmp_path / "new.png", torch.rand(3, 4, 5), protect=guard)
