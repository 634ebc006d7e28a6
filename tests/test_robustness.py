"""Bad and odd inputs: refused in one line naming the file, before models load, batches go on;
plus a fuzz test over generated bad files."""
import hashlib
import io
import os
import random
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from ssr.cli import main
from ssr.io import read_image, write_image

from conftest import textured


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _png(w, h, rows=None, ctype=2):
    """A hand-made 8-bit PNG declaring ``w x h`` whose data holds ``rows`` rows (default all)."""
    ch = {0: 1, 2: 3, 6: 4}[ctype]
    row = b"\0" + (bytes(range(256)) * (w * ch // 256 + 1))[: w * ch]
    raw = row * (h if rows is None else rows)

    def chunk(k, d):
        return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _huge_bmp() -> bytes:
    """A BMP header declaring 2147483647 x 1 pixels (and no pixel data)."""
    head = struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, 2147483647, 1, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return head + info


def test_pixel_budget_is_read_from_the_header_and_batches_go_on(tmp_path, capsys, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "ok.png", textured(16, 16))
    (src / "huge.bmp").write_bytes(_huge_bmp())
    (src / "wide.png").write_bytes(_png(50000, 50000, rows=1))
    import ssr.io

    decoded = []
    real_read = ssr.io.read_image
    monkeypatch.setattr(ssr.io, "read_image", lambda path, *a, **k: decoded.append(path.name) or real_read(path, *a, **k))
    code, out, err = run(capsys, "depth", src, "-o", tmp_path / "out", "--backend", "constant")
    assert decoded == ["ok.png"]  # the huge ones were refused from their headers, never decoded
    assert code == 2 and (tmp_path / "out" / "ok_depth.png").is_file()
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert any("huge.bmp" in ln and "pixel budget" in ln for ln in lines)
    assert any("wide.png" in ln and "pixel budget" in ln for ln in lines)
    assert "2 of 3 inputs failed" in err and "Traceback" not in err
    # the budget is an option
    code, _, err = run(capsys, "depth", src / "ok.png", "-o", tmp_path / "o2.png", "--backend", "constant",
                       "--max-pixels", "100")
    assert code == 2 and "pixel budget" in err and not (tmp_path / "o2.png").exists()


def test_refusals_come_before_any_model_loads(tmp_path, capsys, monkeypatch):
    """With --weights naming no pipeline, a bad input must still be the error reported: the
    inputs are checked first, and no model is loaded for them."""
    from ssr.pipeline import SSRPipeline

    def no_model(*a, **k):
        raise AssertionError("a model was loaded for a refused input")

    monkeypatch.setattr(SSRPipeline, "from_pretrained", no_model)
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    write_image(tmp_path / "tiny.png", textured(2, 2))
    write_image(tmp_path / "ok.png", textured(16, 16))
    nowhere = tmp_path / "no_weights"
    for name, msg in (("bad.png", "not an image"), ("tiny.png", "too small"), ("missing.png", "not found")):
        code, _, err = run(capsys, "upscale", tmp_path / name, "-o", tmp_path / "o.png", "--weights", nowhere)
        assert code == 2 and msg in err and "no_weights" not in err, err
    code, _, err = run(capsys, "upscale", tmp_path / "ok.png", "-o", tmp_path / "ok.png", "--weights", nowhere)
    assert code == 2 and "overwrite the input" in err


def test_hidden_and_own_files_are_never_inputs(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", textured(16, 16))
    (src / ".a.png.x8k2.png").write_bytes(b"\x89PNG half written")  # a write interrupted by a kill
    hidden = src / ".thumbs"
    hidden.mkdir()
    write_image(hidden / "b.png", textured(16, 16))
    for _ in range(2):  # the second run must not read the first run's outputs
        code, out, err = run(capsys, "depth", src, "-o", src / "out", "--backend", "constant", "--recursive")
        assert code == 0, err
    assert sorted(p.name for p in (src / "out").iterdir()) == ["a_depth.png"]


def test_special_files_and_output_names(tmp_path, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    code, _, err = run(capsys, "depth", fifo, "-o", tmp_path / "o.png", "--backend", "constant")
    assert code == 2 and "not a regular file" in err
    write_image(tmp_path / "a.png", textured(16, 16))
    for bad in ("out.txt", "x.gif"):
        code, _, err = run(capsys, "depth", tmp_path / "a.png", "-o", tmp_path / bad, "--backend", "constant")
        assert code == 2 and "not an image extension" in err and not (tmp_path / bad).exists()
    # a long name (244 characters) is written: the temporary name is never longer than the file's
    long = tmp_path / ("n" * 244 + ".png")
    code, _, err = run(capsys, "depth", tmp_path / "a.png", "-o", long, "--backend", "constant")
    assert code == 0 and long.is_file(), err


def test_option_checks(tmp_path, capsys):
    write_image(tmp_path / "a.png", textured(32, 32))
    for opts, msg in ((["--motion", "2"], "--motion"), (["--motion", "nan"], "--motion"),
                      (["--seed", str(2**70)], "--seed")):
        code, _, err = run(capsys, "degrade", tmp_path / "a.png", "-o", tmp_path / "lr.png", *opts)
        assert code == 2 and msg in err and "Overflow" not in err
    code, _, err = run(capsys, "upscale", tmp_path / "a.png", "-o", tmp_path / "x.png", "--tile", "64",
                       "--tile-overlap", "40")
    assert code == 2 and "more than half the tile" in err
    with pytest.raises(SystemExit) as exc:
        main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "x.png"), "--no-such-flag"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: ssr upscale" in err and "--no-such-flag" in err


def test_decoding_odd_files(tmp_path):
    # a PNG whose pixel data holds 1 of its 20 rows: refused (was written with 19 black rows)
    (tmp_path / "short.png").write_bytes(_png(13, 20, rows=1))
    with pytest.raises(Exception, match="truncated PNG"):
        read_image(tmp_path / "short.png")
    (tmp_path / "full.png").write_bytes(_png(13, 20))
    assert read_image(tmp_path / "full.png").size == (20, 13)
    # PNG tRNS transparency (a colour key on an RGB picture) is kept as alpha
    im = Image.fromarray(np.full((8, 8, 3), 200, np.uint8), "RGB")
    im.save(tmp_path / "key.png", transparency=(200, 200, 200))
    got = read_image(tmp_path / "key.png")
    assert got.alpha is not None and float(got.alpha.max()) == 0.0
    # a float TIFF with NaN reads as finite values
    arr = np.random.rand(16, 16).astype(np.float32)
    arr[3, 4] = np.nan
    Image.fromarray(arr, "F").save(tmp_path / "nan.tif")
    assert bool(read_image(tmp_path / "nan.tif").rgb.isfinite().all())


def test_non_utf8_name_of_a_16bit_png(tmp_path, capsys):
    import torch

    name = os.fsdecode(b"pic\xff\xfe.png")
    src = tmp_path / name
    write_image(src, torch.rand(3, 16, 16), bit_depth=16)
    assert read_image(src).bit_depth == 16
    dst = tmp_path / os.fsdecode(b"out\xff.png")
    code, _, err = run(capsys, "depth", src, "-o", dst, "--backend", "constant")
    assert code == 0 and dst.is_file(), err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_sigterm_leaves_no_partial_output(tmp_path):
    """SIGTERM during a batch ends it like Ctrl-C: every written file is whole, no temp file."""
    src = tmp_path / "in"
    src.mkdir()
    n = 200  # enough that the signal usually lands mid-batch, even on a fast machine
    for i in range(n):
        write_image(src / f"p{i:03d}.png", textured(64, 64, seed=i))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "ssr", "depth", str(src), "-o", str(out), "--backend", "constant"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out.is_dir() and any(out.iterdir())):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    written = sorted(out.iterdir())
    if proc.returncode == -signal.SIGTERM:
        # the batch had ended and ssr's handler was handed back before the signal arrived
        # (the process was exiting): the default action is right then, and every output is there
        assert len(written) == n, (len(written), err)
    else:
        assert proc.returncode in (0, 130), err
    assert "Traceback" not in err
    for p in written:
        assert not p.name.startswith("."), p
        read_image(p)  # whole


# ---- fuzz -------------------------------------------------------------------------------------

def _seeds() -> list[tuple[str, bytes]]:
    """Valid pictures of many kinds: formats, modes, bit depths, orientations."""
    import cv2

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out = []

    def save(name, im, **kw):
        buf = io.BytesIO()
        im.save(buf, **kw)
        out.append((name, buf.getvalue()))

    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("TIFF", "tif"), ("WEBP", "webp")):
        save(f"rgb_{ext}.{ext}", Image.fromarray(rgb), format=fmt)
        save(f"grey_{ext}.{ext}", Image.fromarray(rgb[..., 0]), format=fmt)
    save("rgba.png", Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA"), format="PNG")
    save("la.png", Image.fromarray(rgb[..., :2].copy(), "LA"), format="PNG")
    save("pal.png", Image.fromarray(rgb).convert("P"), format="PNG")
    save("pal_t.png", Image.fromarray(rgb).convert("P"), format="PNG", transparency=3)
    save("bw.png", Image.fromarray(rgb[..., 0] > 128), format="PNG")
    save("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), format="JPEG")
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        save(f"orient{o}.jpg", Image.fromarray(rgb), format="JPEG", exif=exif.tobytes())
    for ext in (".png", ".tif"):
        ok, buf = cv2.imencode(ext, rng.integers(0, 65536, (12, 10, 3), dtype=np.uint16))
        out.append((f"rgb16_{ext[1:]}{ext}", buf.tobytes()))
        ok, buf = cv2.imencode(ext, rng.integers(0, 65536, (12, 10), dtype=np.uint16))
        out.append((f"grey16_{ext[1:]}{ext}", buf.tobytes()))
    out.append(("float.tif", _float_tiff(rng)))
    return out


def _float_tiff(rng) -> bytes:
    buf = io.BytesIO()
    a = rng.random((12, 10)).astype(np.float32)
    a[0, 0] = np.nan
    Image.fromarray(a, "F").save(buf, format="TIFF")
    return buf.getvalue()


def _mutations(seeds, n: int, rng: random.Random) -> list[tuple[str, bytes]]:
    files = list(seeds)
    kinds = ["truncate", "flip", "header", "garbage", "empty", "append"]
    while len(files) < n:
        name, data = rng.choice(seeds)
        kind = rng.choice(kinds)
        b = bytearray(data)
        if kind == "truncate":
            b = b[:rng.randrange(1, len(b))]
        elif kind == "flip":
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
        elif kind == "header":  # rewrite a 4-byte field near the start (sizes, offsets)
            i = rng.randrange(0, min(len(b) - 4, 40))
            b[i:i + 4] = struct.pack(">I", rng.choice([0, 1, 65535, 50000, 2**31 - 1, 2**32 - 1]))
        elif kind == "garbage":
            b = bytearray(rng.randbytes(rng.randint(1, 300)))
        elif kind == "empty":
            b = bytearray()
        else:
            b += rng.randbytes(rng.randint(1, 64))
        stem, ext = name.rsplit(".", 1)
        odd = rng.choice(["", " space", "é", "x" * 150, "-dash"])
        files.append((f"{len(files):04d}_{kind}_{stem}{odd}.{ext}", bytes(b)))
    return files


def test_fuzz_500_bad_and_odd_inputs(tmp_path, capsys):
    """>= 500 generated inputs through one batch: 0 tracebacks, 0 partial outputs, 0 inputs
    modified, the batch never aborted, every refusal one line naming its file."""
    rng = random.Random(1234)
    files = _mutations(_seeds(), 520, rng)
    src = tmp_path / "in"
    src.mkdir()
    digests = {}
    for name, data in files:
        (src / name).write_bytes(data)
        digests[name] = hashlib.sha1(data).hexdigest()
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "depth", src, "-o", out, "--backend", "constant", "--max-pixels", "4000000")
    assert code in (0, 2)
    assert "Traceback" not in err + stdout and "internal error" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    written = {p.name for p in out.iterdir()} if out.is_dir() else set()
    assert not [n for n in written if n.startswith(".")]  # no temporary file left
    refused = 0
    for name, _ in files:
        stem = name.rsplit(".", 1)[0]
        mine = [ln for ln in errors if "/" + name in ln]
        if f"{stem}_depth.png" in written:
            assert not mine, mine
            read_image(out / f"{stem}_depth.png")  # a whole picture
        else:
            assert len(mine) == 1, (name, mine)  # refused in exactly one line naming it
            refused += 1
    assert refused == len(errors) - (1 if code == 2 else 0)  # plus the final count line
    assert len(written) > 40 and refused > 100  # the mix holds both kinds
    for name, _ in files:
        assert hashlib.sha1((src / name).read_bytes()).hexdigest() == digests[name]  # inputs untouched


def _tiff16(arr: np.ndarray, orientation: int) -> bytes:
    """A minimal uncompressed 16-bit RGB TIFF (little endian) with an orientation tag."""
    h, w, _ = arr.shape
    pixels = arr.astype("<u2").tobytes()
    tags = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2), (273, 4, 1, None),
            (274, 3, 1, orientation), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    ifd_size = 2 + 12 * len(tags) + 4
    bits_at = 8 + ifd_size
    data_at = bits_at + 6
    out = bytearray(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(tags)))
    for tag, typ, count, value in tags:
        if tag == 258:
            value = bits_at
        elif tag == 273:
            value = data_at
        out += struct.pack("<HHI", tag, typ, count)
        out += struct.pack("<HH", value, 0) if typ == 3 and count == 1 else struct.pack("<I", value)
    out += struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16) + pixels
    return bytes(out)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_tiff_orientations(tmp_path, orientation):
    """16-bit RGB TIFFs come out the way a viewer shows them, for all 8 orientations (2-4 were
    wrong and 5-8 refused), matching Pillow's exif_transpose of the same picture."""
    from PIL import ImageOps

    arr = (np.arange(4 * 6 * 3).reshape(4, 6, 3) * 1000).astype(np.uint16)
    (tmp_path / "o.tif").write_bytes(_tiff16(arr, orientation))
    got = read_image(tmp_path / "o.tif")
    assert got.bit_depth == 16
    ref = Image.fromarray((arr // 256).astype(np.uint8))
    ref.getexif()[0x0112] = orientation
    want = np.asarray(ImageOps.exif_transpose(ref))
    mine = (got.rgb.numpy() * 65535).round().astype(np.uint16).transpose(1, 2, 0)
    assert mine.shape == want.shape and np.array_equal(mine // 256, want)


def test_16bit_grey_alpha_png_stays_grey_alpha(tmp_path):
    """A 16-bit grey + alpha PNG reads as grey with alpha and is written back as one (it came
    out 16-bit RGBA)."""
    h, w = 5, 7
    a = np.random.default_rng(0).integers(0, 65536, (h, w, 2)).astype(">u2")
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))

    def chunk(k, d):
        return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)

    (tmp_path / "la.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0))
                                      + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    img = read_image(tmp_path / "la.png")
    assert img.bit_depth == 16 and img.grayscale and img.alpha is not None
    assert np.array_equal((img.rgb[0].numpy() * 65535).round(), a[..., 0].astype(float))
    write_image(tmp_path / "out.png", img.rgb, img.alpha, bit_depth=16, grayscale=True)
    data = (tmp_path / "out.png").read_bytes()
    assert data[24] == 16 and data[25] == 4  # 16-bit, colour type 4 (grey + alpha)
    back = read_image(tmp_path / "out.png")
    assert back.grayscale and back.bit_depth == 16
    assert np.array_equal((back.alpha.numpy() * 65535).round(), (img.alpha.numpy() * 65535).round())


def _sigterm(wait: float = 0.05) -> None:
    """SIGTERM to this process, then time for the handler to run."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(wait)


def test_interrupts_wait_for_a_critical_block_to_end():
    """Under the CLI's handler a SIGTERM inside ``critical()`` is held until the block ends (a file
    being written is finished or removed first); outside, it interrupts at once; a write that an
    interrupt ends early leaves no temporary file."""
    from ssr import interrupts

    previous = signal.signal(signal.SIGTERM, interrupts.handler)
    try:
        steps = []
        with pytest.raises(KeyboardInterrupt):
            with interrupts.critical():
                _sigterm()
                steps.append("finished")
        assert steps == ["finished"]
        with pytest.raises(KeyboardInterrupt):
            _sigterm(1)
        # interruptible() inside a critical block lets a signal through at once ...
        steps = []
        with pytest.raises(KeyboardInterrupt):
            with interrupts.critical():
                try:
                    with interrupts.interruptible():
                        _sigterm(1)
                        steps.append("not reached")
                finally:
                    steps.append("cleanup")
        assert steps == ["cleanup"]
        # ... raises one held before it on entry, and after it the block holds signals again
        steps = []
        with pytest.raises(KeyboardInterrupt):
            with interrupts.critical():
                _sigterm()
                steps.append("held")
                with interrupts.interruptible():
                    steps.append("not reached")
        assert steps == ["held"]
        steps = []
        with pytest.raises(KeyboardInterrupt):
            with interrupts.critical():
                with interrupts.interruptible():
                    steps.append("window")
                _sigterm()
                steps.append("held again")
        assert steps == ["window", "held again"]
        with interrupts.critical():  # nothing left pending, the depth back at 0
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_signal_during_encoding_stops_it_and_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C / SIGTERM does not wait for a picture's encoding (the fill is interruptible) and
    still leaves neither the output nor a temporary file."""
    import ssr.io as sio
    from ssr import interrupts

    reached = []

    def slow_encode(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
        reached.append("encoded")

    monkeypatch.setattr(sio, "_encode", slow_encode)
    previous = signal.signal(signal.SIGTERM, interrupts.handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            write_image(tmp_path / "x.png", textured(8, 8, seed=0))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert reached == [] and list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    import ssr.io as sio

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sio, "_encode", boom)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "x.png", textured(8, 8, seed=0))
    assert list(tmp_path.iterdir()) == []
