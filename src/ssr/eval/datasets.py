"""Benchmark sets for ``ssr bench``: real LR/HR pairs and fixed synthetic test sets.

Two kinds of folder:

* **Pairs** -- a folder with ``HR/`` and ``LR/`` sub-folders holding images of the same names
  (like ``eval/RealSR``). The HR side must be ``scale`` times the LR side (a few extra HR
  pixels, fewer than ``scale``, are cropped).
* **HR only** -- any folder of images (Set5, Set14, BSD100, ...). It becomes a fixed synthetic
  test set through :class:`ssr.degradation.DegradationPipeline` at a scale and a preset (the
  paper's regimes ``no-noise``, ``no-jpeg``, ``noise-jpeg``): depth-informed spatially variant
  blur on a synthetic depth map (``FieldConfig`` defaults). Each image gets its own seed,
  derived from the base seed and its file name, so a set does not change when images are
  added or removed. The HR reference is the image cropped to a multiple of the scale
  (grayscale images are replicated to RGB).

  The LR images are cached as PNG in ``<cache>/<folder>-<hash>/x<scale>-<preset>/`` with a
  ``recipe.json`` holding the degradation recipe (``DegradationConfig.to_dict()``), the base
  seed, the SSR version, the source folder and, per image, the SHA-1 of the source file, the
  seed and every drawn parameter. A cache whose recipe differs is wiped and rebuilt; an image
  whose source changed is regenerated. Kernel fields are not stored (too big).

``@builtin`` after the spec (``bsd100:noise-jpeg@builtin``) makes the depth-informed blur follow
the *scene's* depth, estimated on the HR image by the built-in depth network, instead of a
synthetic depth map unrelated to the picture: the setting in which depth estimated from the
image can inform kernel estimation, as SSR assumes (and as real defocus behaves). The recipe
records the depth weights' hash, so the set is rebuilt when the depth network changes.

Dataset specs on the command line: a folder path, optionally followed by ``:preset`` for
HR-only folders (``../shared/datasets/eval/BSD100:noise-jpeg``), or a short name ``realsr``,
``bsd100``, ``set5``, ``set14`` (also with ``:preset``) resolved under ``$SSR_DATA/eval`` or,
without ``SSR_DATA``, ``../shared/datasets/eval`` next to the repository (or the working
directory).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from PIL import Image

from .. import __version__
from ..choices import DEFAULT_SEED
from ..degradation import PRESETS, DegradationConfig, DegradationPipeline, crop_to_multiple
from ..errors import SSRError
from ..io import list_images, load_rgb, write_image, write_json

__all__ = [
    "BenchItem", "BenchDataset", "DatasetSpec", "parse_spec", "open_dataset", "image_seed",
    "default_cache_dir", "SHORT_NAMES", "DEFAULT_PRESET", "DEFAULT_SEED",
]

SHORT_NAMES = {"realsr": "RealSR", "bsd100": "BSD100", "set5": "Set5", "set14": "Set14"}
DEFAULT_PRESET = "noise-jpeg"
RECIPE = "recipe.json"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ssr/bench`` (``~/.cache/ssr/bench`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ssr" / "bench"


def _data_roots() -> list[Path]:
    env = os.environ.get("SSR_DATA")
    if env:
        return [Path(env) / "eval", Path(env)]
    repo = Path(__file__).resolve().parents[3]
    return [repo.parent / "shared" / "datasets" / "eval", Path.cwd().parent / "shared" / "datasets" / "eval"]


#: where the depth that drives the depth-informed blur of synthetic sets comes from
BLUR_DEPTHS = ("synthetic", "builtin")


@dataclass
class DatasetSpec:
    """A parsed ``PATH[:preset][@depth]`` spec."""

    path: Path
    preset: str | None = None
    depth: str = "synthetic"


def parse_spec(spec: str) -> DatasetSpec:
    """Parse a dataset spec (see the module docstring).

    Raises:
        SSRError: empty spec, unknown preset, or a short name / path that does not exist.
    """
    if not spec:
        raise SSRError("empty dataset spec")
    depth = "synthetic"
    base, at, tail = spec.rpartition("@")
    if at and base and "/" not in tail and not Path(spec).expanduser().exists():
        if tail not in BLUR_DEPTHS:
            raise SSRError(f"unknown blur depth {tail!r} in dataset spec {spec!r}; choose from {', '.join(BLUR_DEPTHS)}")
        spec, depth = base, tail
    preset = None
    head, sep, tail = spec.rpartition(":")
    if sep and head and "/" not in tail and "\\" not in tail and not Path(spec).expanduser().exists():
        if tail not in PRESETS:
            raise SSRError(f"unknown preset {tail!r} in dataset spec {spec!r}; choose from {', '.join(PRESETS)}")
        spec, preset = head, tail
    path = Path(spec).expanduser()
    if not path.exists() and spec.lower() in SHORT_NAMES:
        tried = [root / SHORT_NAMES[spec.lower()] for root in _data_roots()]
        found = next((p for p in tried if p.is_dir()), None)
        if found is None:
            raise SSRError(f"dataset {spec!r} not found (looked in {', '.join(map(str, tried))}); "
                           "set SSR_DATA to the datasets folder or give a path")
        path = found
    if not path.exists():
        raise SSRError(f"dataset folder not found: {path}")
    if not path.is_dir():
        raise SSRError(f"a dataset must be a folder, got the file {path}")
    if depth != "synthetic" and (path / "HR").is_dir() and (path / "LR").is_dir():
        raise SSRError(f"{path} holds real pairs: '@{depth}' only applies to HR-only folders")
    return DatasetSpec(path=path, preset=preset, depth=depth)


def image_seed(base_seed: int, name: str) -> int:
    """The degradation seed of one image: a hash of the base seed and its file name (48 bits)."""
    digest = hashlib.sha256(f"{int(base_seed)}:{name}".encode()).digest()
    return int.from_bytes(digest[:6], "little")


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _header_size(path: Path) -> tuple[int, int] | None:
    """``(H, W)`` from the file header, ``None`` when it cannot be read (decoding reports it)."""
    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except Exception:  # noqa: BLE001
        return None


@dataclass
class BenchItem:
    """One test image: ``lr`` ``3 x h x w`` and ``hr`` ``3 x (h s) x (w s)``, both in [0, 1]."""

    name: str
    lr: torch.Tensor
    hr: torch.Tensor


@dataclass
class BenchDataset:
    """An ordered, lazily loaded benchmark set.

    Attributes:
        label: table label, e.g. ``RealSR x4`` or ``BSD100 x4 noise-jpeg``.
        kind: ``pairs`` or ``synthetic``.
        scale: SR factor.
        names: image file names, sorted.
        fingerprint: changes whenever the images or their recipe change (used to invalidate
            stored results).
    """

    label: str
    kind: str
    scale: int
    names: list[str]
    fingerprint: str
    _lr_paths: list[Path] = field(repr=False, default_factory=list)
    _hr_paths: list[Path] = field(repr=False, default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def load(self, i: int) -> BenchItem:
        """Read image ``i`` (``SSRError`` on size mismatch or unreadable files)."""
        s = self.scale
        lr = load_rgb(self._lr_paths[i])
        hr = crop_to_multiple(load_rgb(self._hr_paths[i]), s)
        h, w = lr.shape[-2:]
        if hr.shape[-2] // s != h or hr.shape[-1] // s != w:
            raise SSRError(f"mismatched pair sizes for {self.names[i]}: HR {self._hr_paths[i]} is "
                           f"{hr.shape[-1]}x{hr.shape[-2]} (after cropping to a multiple of {s}), "
                           f"LR {self._lr_paths[i]} is {w}x{h}: not an x{s} pair")
        return BenchItem(name=self.names[i], lr=lr, hr=hr[..., : h * s, : w * s])

    def __iter__(self) -> Iterator[BenchItem]:
        for i in range(len(self)):
            yield self.load(i)


def open_dataset(
    spec: str | DatasetSpec,
    scale: int = 4,
    limit: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    base_seed: int = DEFAULT_SEED,
    progress: bool = False,
) -> BenchDataset:
    """Open a benchmark set from a spec, building (or reusing) the synthetic LR cache.

    Args:
        spec: ``PATH[:preset]`` or a short name (see the module docstring), or a parsed spec.
        scale: SR factor (2, 3 or 4).
        limit: keep only the first ``limit`` images (sorted by name).
        cache_dir: where synthetic LR images are cached (default :func:`default_cache_dir`).
        base_seed: base of the per-image degradation seeds.
        progress: show a progress bar while degrading.

    Raises:
        SSRError: missing or empty folder, unknown preset, names that differ between ``HR/``
            and ``LR/``, mismatched pair sizes.
    """
    if not isinstance(spec, DatasetSpec):
        spec = parse_spec(spec)
    if limit is not None and limit < 1:
        raise SSRError(f"--limit must be at least 1, got {limit}")
    if (spec.path / "HR").is_dir() and (spec.path / "LR").is_dir():
        if spec.preset:
            raise SSRError(f"{spec.path} holds real HR/LR pairs: a preset (':{spec.preset}') only "
                           "applies to HR-only folders")
        return _open_pairs(spec.path, scale, limit)
    return _open_synthetic(spec.path, spec.preset or DEFAULT_PRESET, scale, limit,
                           Path(cache_dir) if cache_dir else default_cache_dir(), base_seed, progress,
                           blur_depth=spec.depth)


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise SSRError(f"dataset folder not found: {folder}")
    return list_images([folder])


def _open_pairs(root: Path, scale: int, limit: int | None) -> BenchDataset:
    hr = {p.name: p for p in _images(root / "HR")}
    lr = {p.name: p for p in _images(root / "LR")}
    only_hr, only_lr = sorted(set(hr) - set(lr)), sorted(set(lr) - set(hr))
    if only_hr or only_lr:
        side, names = ("LR", only_hr) if only_hr else ("HR", only_lr)
        raise SSRError(f"{root}: {len(names)} image(s) have no {side} counterpart, e.g. {names[0]} "
                       "(HR/ and LR/ must hold the same file names)")
    names = sorted(hr)[:limit]
    for n in names:
        a, b = _header_size(hr[n]), _header_size(lr[n])
        if a and b and (a[0] // scale != b[0] or a[1] // scale != b[1]):
            raise SSRError(f"mismatched pair sizes for {n} in {root}: HR is {a[1]}x{a[0]}, LR is "
                           f"{b[1]}x{b[0]}: not an x{scale} pair (check --scale)")
    fp = hashlib.sha1(repr((str(root.resolve()), scale, [(n, _sha1(hr[n]), _sha1(lr[n])) for n in names])).encode())
    return BenchDataset(label=f"{root.name} x{scale}", kind="pairs", scale=scale, names=names,
                        fingerprint=fp.hexdigest()[:16],
                        _lr_paths=[lr[n] for n in names], _hr_paths=[hr[n] for n in names])


def _recipe_key(root: Path, cfg: DegradationConfig, base_seed: int, blur_depth: str = "synthetic") -> dict:
    key = {"source": str(root.resolve()), "degradation": cfg.to_dict(), "base_seed": int(base_seed),
           "ssr_version": __version__}
    if blur_depth != "synthetic":
        from ..depth.fingerprint import weights_fingerprint

        key["blur_depth"] = {"source": blur_depth, "weights": weights_fingerprint(blur_depth)}
    return key


def scene_depth(hr: torch.Tensor, source: str) -> torch.Tensor | None:
    """The depth map that drives a synthetic set's depth-informed blur: ``None`` for a synthetic
    map drawn by the degradation engine, else the estimate of ``source`` (e.g. the built-in
    network) on the HR image, ``1 x 1 x H x W``."""
    if source == "synthetic":
        return None
    return _estimator(source).estimate(hr[None] if hr.dim() == 3 else hr)


@functools.lru_cache(maxsize=2)
def _estimator(source: str):
    from ..depth import get_depth_estimator

    return get_depth_estimator(source)


def degrade_source(src: Path, cfg: DegradationConfig, seed: int, blur_depth: str = "synthetic"):
    """Degrade one HR file exactly as a synthetic set does (the kernels come back too)."""
    hr = crop_to_multiple(load_rgb(src), cfg.scale)
    if min(hr.shape[-2:]) < 4 * cfg.scale:
        raise SSRError(f"{src} is {hr.shape[-1]}x{hr.shape[-2]}: too small to degrade at x{cfg.scale}")
    return DegradationPipeline(cfg)(hr, seed=seed, depth=scene_depth(hr, blur_depth))


def _read_recipe(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _open_synthetic(root: Path, preset: str, scale: int, limit: int | None, cache_root: Path,
                    base_seed: int, progress: bool, blur_depth: str = "synthetic") -> BenchDataset:
    sources = _images(root)[:limit]
    stems = [p.stem for p in sources]
    dup = next((n for n in stems if stems.count(n) > 1), None)
    if dup is not None:
        raise SSRError(f"{root} holds several images named {dup}.*; their cached LR files would collide")
    try:
        cfg = DegradationConfig.preset(preset, scale=scale)
    except ValueError as exc:
        raise SSRError(str(exc)) from None
    tag = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:8]
    suffix = "" if blur_depth == "synthetic" else f"-depth-{blur_depth}"
    folder = cache_root / f"{root.name}-{tag}" / f"x{scale}-{preset}{suffix}"
    key = _recipe_key(root, cfg, base_seed, blur_depth)
    recipe = _read_recipe(folder / RECIPE)
    if recipe is None or {k: recipe.get(k) for k in key} != _jsonable(key):
        # a different (or unreadable) recipe: never reuse its images
        for old in [*folder.glob("*.png"), folder / RECIPE]:
            old.unlink(missing_ok=True)
        recipe = {**key, "images": {}}
    images: dict = dict(recipe.get("images") or {})
    digests = {src.name: _sha1(src) for src in sources}
    todo = []
    for src in sources:
        entry = images.get(src.name)
        if not (entry and entry.get("sha1") == digests[src.name] and (folder / f"{src.stem}.png").is_file()):
            todo.append(src)
    if todo:
        from tqdm import tqdm

        bar = tqdm(todo, desc=f"degrading {root.name} x{scale} {preset}", unit="img",
                   disable=not progress, leave=False)
        for src in bar:
            seed = image_seed(base_seed, src.name)
            out = degrade_source(src, cfg, seed, blur_depth)
            write_image(folder / f"{src.stem}.png", out.lr[0], protect=[src])
            images[src.name] = {"sha1": digests[src.name], "seed": seed, "lr": f"{src.stem}.png",
                                "hr_size": list(out.hr.shape[-2:]), "params": out.params[0]}
            write_json(folder / RECIPE, {**key, "images": images})  # after each image: resumable
    names = [s.name for s in sources]
    fp = hashlib.sha1(repr((sorted(key.items(), key=str), [(n, images[n]["sha1"]) for n in names])).encode())
    label = f"{root.name} x{scale} {preset}" + ("" if blur_depth == "synthetic" else f" (blur from {blur_depth} depth)")
    return BenchDataset(label=label, kind="synthetic", scale=scale, names=names,
                        fingerprint=fp.hexdigest()[:16],
                        _lr_paths=[folder / images[n]["lr"] for n in names], _hr_paths=list(sources))


def _jsonable(obj):
    """``obj`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(obj))

