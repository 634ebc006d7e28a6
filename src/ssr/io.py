"""Image I/O used everywhere in SSR.

Reading (:func:`read_image`)
    PNG, JPEG, BMP, TIFF and WebP; 8- and 16-bit per channel; grayscale, RGB, palette, RGBA.
    The EXIF orientation is applied, so pixels come out the way a viewer shows them.
    Images come back as float32 tensors in [0, 1]:

    * ``rgb``: ``3 x H x W``. Grayscale inputs are replicated to three channels (the
      ``grayscale`` flag remembers it, so outputs can be written back as grayscale).
    * ``alpha``: ``1 x H x W`` or ``None``. SSR never feeds alpha to a network: the colour
      channels are processed as they are stored (not premultiplied) and the alpha plane is
      resized on its own (area for downsampling, bicubic for upsampling) and written back.

Writing (:func:`write_image`)
    The format follows the extension. PNG and TIFF can be 8- or 16-bit; JPEG, WebP and BMP
    are 8-bit. Every write goes to a temporary file in the destination folder that is then
    renamed over the destination, so a crash never leaves a half-written file, and a write
    that would replace one of the ``protect`` paths (the inputs) is refused.

Every failure a user can cause (missing, unreadable, truncated or non-image files, an
unknown extension) raises :class:`ssr.errors.SSRError` with a one-line message.
"""
from __future__ import annotations

import os
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import SSRError

if TYPE_CHECKING:  # torch loads on first use: the command line checks paths without it
    import torch

READ_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
WRITE_EXTS = READ_EXTS
_16BIT_EXTS = (".png", ".tif", ".tiff")

# Refuse absurd images before decoding (a decompression bomb would otherwise eat all memory).
Image.MAX_IMAGE_PIXELS = 40000 * 40000
#: default pixel budget of an input picture (width x height, read from the file's header before
#: anything is decoded): 12 MP, a 4000 x 3000 photo. Commands take ``--max-pixels``.
DEFAULT_MAX_PIXELS = 12_000_000


def check_pixels(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    """Refuse a picture larger than the budget (:class:`SSRError` naming it)."""
    if max_pixels and width * height > max_pixels:
        raise SSRError(f"{path} is {width}x{height} ({width * height / 1e6:.1f} MP), above the pixel budget of "
                       f"{max_pixels / 1e6:.1f} MP; raise it with --max-pixels if the machine has the memory")


def image_header(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` from the file's header, without decoding the pixels; checks that the
    file is a readable image within the pixel budget.

    Raises:
        SSRError: missing, unreadable, not an image, or over the budget.
    """
    path = Path(path)
    check_readable(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = int(im.getexif().get(0x0112, 1) or 1)
    except UnidentifiedImageError:
        raise SSRError(f"cannot read {path}: not an image or an unsupported format") from None
    except Image.DecompressionBombError as exc:
        raise SSRError(f"refusing {path}: {exc}") from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise SSRError(f"cannot decode {path}: truncated or corrupt image ({exc})") from None
    check_pixels(path, w, h, max_pixels)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


@dataclass
class LoadedImage:
    """An image read from disk.

    Attributes:
        rgb: ``3 x H x W`` float32 in [0, 1].
        alpha: ``1 x H x W`` float32 in [0, 1], or ``None`` when the file has no alpha.
        bit_depth: 8 or 16, the precision stored in the file.
        grayscale: the file held a single luminance channel (it was replicated to RGB).
        path: where it was read from.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor | None
    bit_depth: int
    grayscale: bool
    path: Path

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.rgb.shape[-2]), int(self.rgb.shape[-1])


def check_readable(path: Path) -> None:
    """Raise :class:`SSRError` unless ``path`` is a readable, non-empty regular file."""
    if not path.exists():
        raise SSRError(f"input not found: {path}")
    if path.is_dir():
        raise SSRError(f"expected an image file but got a folder: {path}")
    if not path.is_file():
        raise SSRError(f"cannot read {path}: not a regular file (a device, pipe or socket)")
    if not os.access(path, os.R_OK):
        raise SSRError(f"cannot read {path}: permission denied")
    if path.stat().st_size == 0:
        raise SSRError(f"cannot read {path}: the file is empty")


def _png_is_16bit(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(26)
    return len(head) >= 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16


def _png_data_complete(path: Path) -> bool:
    """Whether a PNG's compressed pixel data holds every row its header declares (Pillow fills
    the rows of a stream that ends early with black, silently)."""
    import zlib

    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return True  # not a plain PNG: the decoder's own checks apply
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(ctype)
    if channels is None:
        return False
    def row_bytes(width: int) -> int:
        return 1 + (width * channels * depth + 7) // 8 if width else 0
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        need = sum(row_bytes((w - x0 + dx - 1) // dx) * ((h - y0 + dy - 1) // dy) for x0, y0, dx, dy in passes
                   if w > x0 and h > y0)
    else:
        need = row_bytes(w) * h
    pos, idat = 8, []
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + n])
        if kind == b"IEND":
            break
        pos += 12 + n
    try:
        got = len(zlib.decompressobj().decompress(b"".join(idat), need))
    except zlib.error:
        return False
    return got >= need


def _tiff_is_16bit(im: Image.Image) -> bool:
    tags = getattr(im, "tag_v2", None)
    if not tags:
        return False
    bits = tags.get(258)
    if bits is None:
        return False
    bits = bits if isinstance(bits, tuple) else (bits,)
    return max(bits) > 8


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an ``H x W [x C]`` array."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1, :],
    }
    return np.ascontiguousarray(ops[orientation](arr)) if orientation in ops else arr


def _tiff_without_orientation(data: bytearray) -> bytearray:
    """The TIFF bytes with the first IFD's orientation tag (274) set to 1: cv2's TIFF decoder
    applies orientations itself, wrongly for some (3 came out scrambled); SSR applies them."""
    if data[:4] not in (b"II*\0", b"MM\0*"):
        return data
    end = "<" if data[:2] == b"II" else ">"
    try:
        ifd = struct.unpack(end + "I", data[4:8])[0]
        (n,) = struct.unpack(end + "H", data[ifd:ifd + 2])
        for i in range(n):
            at = ifd + 2 + 12 * i
            tag, typ = struct.unpack(end + "HH", data[at:at + 4])
            if tag == 274 and typ == 3:  # SHORT, stored in the entry itself
                data[at + 8:at + 10] = struct.pack(end + "H", 1)
    except struct.error:
        pass  # a damaged header: the decoder's own checks apply
    return data


def _read_16bit_color(path: Path, orientation: int) -> np.ndarray:
    import cv2

    # decode from bytes: cv2's own file opening mishandles names that are not UTF-8
    data = bytearray(path.read_bytes())
    if orientation != 1:
        data = _tiff_without_orientation(data)
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise SSRError(f"cannot decode {path}: truncated or corrupt 16-bit image")
    if arr.ndim == 3:
        arr = arr[..., [2, 1, 0, 3][: arr.shape[2]]] if arr.shape[2] in (3, 4) else arr
        if arr.shape[2] == 4 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[25] == 4:
            arr = arr[..., [0, 3]]  # a grey + alpha PNG (cv2 expands it to colour): keep it grey
    return _orient(arr, orientation)


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> LoadedImage:
    """Read an image file; see the module docstring for the conventions.

    ``max_pixels``: refuse pictures larger than this (width x height, checked on the header
    before anything is decoded; ``None``: no budget beyond Pillow's decompression-bomb guard).

    Raises:
        SSRError: the file is missing, a folder, empty, unreadable, not an image,
            truncated or corrupt, or over the pixel budget.
    """
    path = Path(path)
    check_readable(path)
    try:
        with Image.open(path) as im:
            check_pixels(path, *im.size, max_pixels)
            im.seek(0)
            orientation = int(im.getexif().get(0x0112, 1) or 1)
            if im.format == "PNG" and not _png_data_complete(path):
                raise SSRError(f"cannot decode {path}: truncated PNG (its pixel data holds fewer rows than "
                               "its header declares)")
            if (im.format == "PNG" and _png_is_16bit(path) and im.mode in ("RGB", "RGBA")) or (
                im.format == "TIFF" and _tiff_is_16bit(im) and im.mode in ("RGB", "RGBA", "RGBX")
            ):
                arr = _read_16bit_color(path, orientation)
                bit_depth = 16
            else:
                im.load()
                im = ImageOps.exif_transpose(im)
                arr, bit_depth = _pil_to_array(im)
    except SSRError:
        raise
    except UnidentifiedImageError:
        raise SSRError(f"cannot read {path}: not an image or an unsupported format") from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise SSRError(f"cannot decode {path}: truncated or corrupt image ({exc})") from None
    except Image.DecompressionBombError as exc:
        raise SSRError(f"refusing {path}: {exc}") from None
    return _array_to_loaded(arr, bit_depth, path)


def _pil_to_array(im: Image.Image) -> tuple[np.ndarray, int]:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im).astype(np.uint16), 16
    if mode == "I":
        a = np.asarray(im)
        return (np.clip(a, 0, 65535).astype(np.uint16), 16) if a.max(initial=0) > 255 else (
            a.astype(np.uint8), 8)
    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        if a.max(initial=0) > 1.0:
            a = a / 255.0 if a.max() <= 255.0 else a / 65535.0
        return np.clip(a, 0, 1), 16
    if mode == "1":
        return np.asarray(im.convert("L")), 8
    if mode in ("L", "RGB") and "transparency" in im.info:  # a PNG tRNS colour key: keep it as alpha
        im = im.convert("LA" if mode == "L" else "RGBA")
    elif mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGB")
    return np.asarray(im), 8


def _is_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch (this module loads without it, so
    that the command line refuses bad paths before torch's second of import)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _array_to_loaded(arr: np.ndarray, bit_depth: int, path: Path) -> LoadedImage:
    import torch

    if arr.dtype == np.uint16:
        x = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 255.0
    else:
        x = arr.astype(np.float32)
    if x.ndim == 2:
        x = x[..., None]
    c = x.shape[2]
    grayscale = c in (1, 2)
    alpha = None
    if c in (2, 4):
        alpha = torch.from_numpy(np.ascontiguousarray(x[..., -1])).unsqueeze(0)
        x = x[..., :-1]
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1).contiguous()
    if grayscale:
        t = t.expand(3, -1, -1).contiguous()
    if min(t.shape[-2:]) < 1:
        raise SSRError(f"cannot read {path}: the image has no pixels")
    return LoadedImage(rgb=t, alpha=alpha, bit_depth=bit_depth, grayscale=grayscale, path=path)


def load_rgb(path: str | os.PathLike) -> torch.Tensor:
    """Read an image as a ``3 x H x W`` float32 tensor in [0, 1] (alpha dropped)."""
    return read_image(path).rgb


def _quantize(x: np.ndarray, bit_depth: int) -> np.ndarray:
    peak = 65535.0 if bit_depth == 16 else 255.0
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    return np.clip(np.round(x * peak), 0, peak).astype(dtype)


def _default_mode() -> int:
    """Permissions a normally created file gets (0666 minus the umask); mkstemp uses 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class Protected:
    """Paths that must never be overwritten (a command's inputs), resolved once: a batch checks
    every output against all its inputs, so each check is a set lookup, not one ``resolve`` per
    input. A path is protected when it resolves to one of them or is the same file (a hard link)."""

    def __init__(self, paths: Iterable[str | os.PathLike] = ()):
        self._by_path: dict[Path, str] = {}
        self._by_id: dict[tuple[int, int], str] = {}
        for p in paths:
            self.add(p)

    def add(self, path: str | os.PathLike) -> None:
        try:
            self._by_path.setdefault(Path(path).resolve(), str(path))
            st = os.stat(path)
            self._by_id.setdefault((st.st_dev, st.st_ino), str(path))
        except (OSError, RuntimeError):  # not there (yet), a symlink loop: only its name is compared
            pass

    def __add__(self, other: Iterable[str | os.PathLike]) -> "Protected":
        out = Protected()
        out._by_path, out._by_id = dict(self._by_path), dict(self._by_id)
        for p in other:
            out.add(p)
        return out

    def __iter__(self):
        return iter(dict.fromkeys([*self._by_path.values(), *self._by_id.values()]))

    def which(self, path: str | os.PathLike) -> str | None:
        """The protected path that ``path`` would overwrite, or ``None``."""
        try:
            hit = self._by_path.get(Path(path).resolve())
            if hit is None and self._by_id and os.path.exists(path):
                st = os.stat(path)
                hit = self._by_id.get((st.st_dev, st.st_ino))
        except (OSError, RuntimeError):
            return None
        return hit

    def check(self, path: str | os.PathLike) -> None:
        """Raise :class:`SSRError` where writing ``path`` would overwrite a protected file."""
        hit = self.which(path)
        if hit is not None:
            raise SSRError(f"refusing to overwrite the input file {hit}; choose another output path")


def as_protected(protect: "Protected | Iterable[str | os.PathLike]") -> Protected:
    return protect if isinstance(protect, Protected) else Protected(protect)


def write_image(
    path: str | os.PathLike,
    rgb: torch.Tensor | np.ndarray,
    alpha: torch.Tensor | np.ndarray | None = None,
    *,
    bit_depth: int = 8,
    grayscale: bool = False,
    quality: int = 95,
    protect: Protected | Iterable[str | os.PathLike] = (),
) -> Path:
    """Write an image atomically.

    Args:
        path: destination; the extension picks the format.
        rgb: ``3 x H x W`` or ``1 x H x W`` (or ``H x W``) in [0, 1]; clipped.
        alpha: optional ``1 x H x W`` or ``H x W`` in [0, 1].
        bit_depth: 8 or 16 (16 only for PNG and TIFF; other formats fall back to 8).
        grayscale: write a single luminance channel (BT.601 weights) instead of RGB.
        quality: JPEG / WebP quality.
        protect: paths that must never be overwritten (the inputs), or a :class:`Protected`
            (a batch builds one for all its outputs).

    Returns:
        The destination path.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in WRITE_EXTS:
        raise SSRError(
            f"cannot write {path}: unknown image extension '{path.suffix}' "
            f"(use one of {', '.join(WRITE_EXTS)})")
    as_protected(protect).check(path)
    if path.is_dir():
        raise SSRError(f"cannot write {path}: it is a folder")
    if bit_depth not in (8, 16):
        raise SSRError(f"bit depth must be 8 or 16, got {bit_depth}")
    if ext not in _16BIT_EXTS:
        bit_depth = 8
    arr = rgb.detach().cpu().numpy() if _is_tensor(rgb) else np.asarray(rgb)
    arr = np.transpose(arr, (1, 2, 0)) if arr.ndim == 3 else arr[..., None]
    peak = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(arr.dtype)
    if peak is not None and not grayscale and alpha is None and peak == (255.0 if bit_depth == 8 else 65535.0):
        # already quantised (SSRPipeline with an integer output_dtype): no float copy of the picture
        return _write_quantized(path, np.ascontiguousarray(arr), ext, bit_depth, quality)
    x = arr.astype(np.float32) / peak if peak is not None else arr.astype(np.float32, copy=False)
    if grayscale and x.shape[2] == 3:
        x = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[..., None]
    if alpha is not None and ext not in (".jpg", ".jpeg", ".bmp"):
        a = alpha.detach().float().cpu().numpy() if _is_tensor(alpha) else np.asarray(alpha)
        a = a.reshape(a.shape[-2], a.shape[-1])[..., None]
        if a.shape[:2] != x.shape[:2]:
            raise SSRError("internal error: alpha and colour planes differ in size")
        x = np.concatenate([x, a], axis=2)
    return _write_quantized(path, _quantize(np.nan_to_num(x, nan=0.0), bit_depth), ext, bit_depth, quality)


def _write_quantized(path: Path, q: np.ndarray, ext: str, bit_depth: int, quality: int) -> Path:
    """Encode the ``H x W x C`` integer picture ``q`` to a temporary file beside ``path``, then
    rename it there (never a half-written ``path``)."""
    return _replace_from(path, f".{path.stem[:64]}.", ext,
                         lambda tmp: _encode(Path(tmp), q, ext, bit_depth, quality))


def _encode(tmp: Path, q: np.ndarray, ext: str, bit_depth: int, quality: int) -> None:
    c = q.shape[2]
    if ext == ".png" and ((bit_depth == 16 and c == 2) or q.shape[0] * q.shape[1] > STREAMED_PNG_PIXELS):
        _write_png_streamed(tmp, q)  # cv2 writes 16-bit grey + alpha not at all, large pictures whole
        return
    if bit_depth == 16:
        import cv2

        if c == 2:  # 16-bit grey + alpha TIFF: stored as RGBA
            q = q[..., [0, 0, 0, 1]]
            c = 4
        arr = q[..., 0] if c == 1 else q
        if c >= 3:
            arr = arr[..., [2, 1, 0, 3][:c]]
        ok, buf = cv2.imencode(tmp.suffix, np.ascontiguousarray(arr))
        if not ok:
            raise OSError(f"the encoder failed for {tmp.suffix}")
        buf.tofile(tmp)  # written by Python: any file name works
        return
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
    im = Image.fromarray(q[..., 0] if c == 1 else q, mode)
    kwargs: dict = {}
    if ext in (".jpg", ".jpeg"):
        fmt, kwargs = "JPEG", {"quality": int(quality)}
    elif ext == ".webp":
        fmt, kwargs = "WEBP", {"quality": int(quality)}
    elif ext == ".bmp":
        fmt = "BMP"
        if mode == "LA":
            im = im.convert("L")
    elif ext in (".tif", ".tiff"):
        fmt = "TIFF"
    else:
        fmt = "PNG"
    im.save(tmp, format=fmt, **kwargs)


#: pictures with more pixels are written as PNG by :func:`_write_png_streamed` (bounded memory)
STREAMED_PNG_PIXELS = 1 << 24
_PNG_BAND_BYTES = 4 << 20


def _write_png_streamed(tmp: Path, q: np.ndarray) -> None:
    """Write ``q`` (``H x W x C`` uint8 or uint16, C = 1-4) as a PNG, a band of rows at a time.

    Encoders take the whole picture at once (Pillow copies an RGB picture into 4 bytes per pixel
    first); here only one band of filtered rows and zlib's window are held besides ``q``. Every
    row uses the PNG "Up" filter (its difference from the row above, byte by byte), which
    compresses photographs about as well as adaptive filtering."""
    import zlib

    h, w, c = q.shape
    depth = 16 if q.dtype == np.uint16 else 8
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row_bytes = w * c * depth // 8
    band = max(1, _PNG_BAND_BYTES // max(1, row_bytes))
    z = zlib.compressobj(6)
    prev = np.zeros(row_bytes, np.uint8)
    with open(tmp, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)))
        for y0 in range(0, h, band):
            rows = q[y0:y0 + band]
            raw = np.ascontiguousarray(rows.astype(">u2") if depth == 16 else rows).view(np.uint8).reshape(len(rows), row_bytes)
            out = np.empty((len(rows), row_bytes + 1), np.uint8)
            out[:, 0] = 2  # filter type Up
            out[0, 1:] = raw[0] - prev
            out[1:, 1:] = raw[1:] - raw[:-1]
            prev = raw[-1].copy()
            data = z.compress(out.tobytes())
            if data:
                f.write(chunk(b"IDAT", data))
        f.write(chunk(b"IDAT", z.flush()) + chunk(b"IEND", b""))


def list_images(inputs: Sequence[str | os.PathLike], recursive: bool = False) -> list[Path]:
    """Expand files and folders into a sorted list of image files. Hidden files and folders
    (names starting with ``.``, among them the temporary files of an interrupted write) are
    never taken from a folder.

    Raises:
        SSRError: an input does not exist, is not a regular file, or a folder holds no image.
    """
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(q for q in p.glob(pattern) if q.is_file() and q.suffix.lower() in READ_EXTS
                           and not any(part.startswith(".") for part in q.relative_to(p).parts))
            if not found:
                raise SSRError(f"no images ({', '.join(READ_EXTS)}) in folder {p}")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        elif p.exists():
            raise SSRError(f"cannot read {p}: not a regular file (a device, pipe or socket)")
        else:
            raise SSRError(f"input not found: {p}")
    return out


def to_batch(x: torch.Tensor) -> torch.Tensor:
    """``C x H x W`` -> ``1 x C x H x W``."""
    return x.unsqueeze(0) if x.dim() == 3 else x


def resize_alpha(alpha: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an alpha plane ``1 x H x W`` to ``size = (h, w)``: area when shrinking, bicubic when
    enlarging; result clipped to [0, 1]."""
    import torch.nn.functional as F

    a = alpha.unsqueeze(0)
    shrink = size[0] <= a.shape[-2] and size[1] <= a.shape[-1]
    mode = "area" if shrink else "bicubic"
    kw = {} if shrink else {"align_corners": False}
    return F.interpolate(a, size=size, mode=mode, **kw).clamp(0, 1)[0]


def _atomic_write_bytes(path: Path, data: bytes, protect: Iterable[str | os.PathLike] = ()) -> Path:
    as_protected(protect).check(path)

    def fill(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    return _replace_from(path, f".{path.name[:64]}.", "", fill)


def _replace_from(path: Path, prefix: str, suffix: str, fill) -> Path:
    """Create a temporary file beside ``path``, fill it (``fill(tmp)``, its path), then rename it to
    ``path``; on any failure the temporary file is removed and ``path`` is left as it was (an
    ``OSError`` becomes a one-line :class:`SSRError` naming ``path``). Creating, renaming and
    cleaning up form a :func:`ssr.interrupts.critical` block, so an interrupt can never leave the
    temporary file behind; the fill itself is :func:`~ssr.interrupts.interruptible` (the cleanup
    is armed by then), so Ctrl-C does not wait for a large picture to be encoded."""
    from .interrupts import critical, interruptible

    with critical():
        fd, tmp = _temp_beside(path, prefix=prefix, suffix=suffix)
        try:
            os.close(fd)  # closed while interrupts are held: an interrupt cannot leave it open
            with interruptible():
                fill(tmp)
            os.chmod(tmp, _default_mode())
            os.replace(tmp, path)
        except BaseException as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise SSRError(f"cannot write {path}: {exc.strerror or exc}") from None
            raise
    return path


def _temp_beside(path: Path, prefix: str, suffix: str = "") -> tuple[int, str]:
    """Create the output's folder and a temporary file in it (for an atomic replace); an
    unwritable or missing place is a one-line :class:`SSRError` naming ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise SSRError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_json(path: str | os.PathLike, data, protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``data`` as indented JSON, atomically (tensors become lists)."""
    import json

    def _default(o):
        if _is_tensor(o) or isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (np.floating, np.integer)):
            return o.item()
        return str(o)

    text = json.dumps(data, indent=2, default=_default) + "\n"
    return _atomic_write_bytes(Path(path), text.encode(), protect)


def write_text(path: str | os.PathLike, text: str, protect: Iterable[str | os.PathLike] = ()) -> Path:
    """Write a text file atomically."""
    return _atomic_write_bytes(Path(path), text.encode(), protect)


def read_depth(path: str | os.PathLike, distance: bool = False) -> torch.Tensor:
    """Read a depth map as ``1 x H x W`` relative inverse depth in [0, 1] (1 = nearest).

    Accepts images (8/16-bit grey or RGB, whose luminance is used) and ``.npy`` arrays.
    Values are normalised per map. ``distance=True`` means the map grows with distance (metric
    depth or a depth PNG): it is inverted (``1 / z``, zeros treated as invalid = farthest) first.
    """
    path = Path(path)
    check_readable(path)
    import torch

    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False).astype(np.float32)
        except Exception as exc:  # noqa: BLE001
            raise SSRError(f"cannot read depth {path}: {exc}") from None
        arr = np.squeeze(arr)
        if arr.ndim != 2:
            raise SSRError(f"depth {path} must be a 2-D array, got shape {arr.shape}")
        d = torch.from_numpy(arr)
    else:
        img = read_image(path)
        w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        d = (img.rgb * w).sum(0)
    d = torch.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0)
    if distance:
        valid = d > 0
        inv = torch.zeros_like(d)
        inv[valid] = 1.0 / d[valid]
        d = inv
    lo, hi = float(d.min()), float(d.max())
    if hi - lo < 1e-12:
        return torch.full((1, *d.shape), 0.5)
    return ((d - lo) / (hi - lo)).unsqueeze(0)
