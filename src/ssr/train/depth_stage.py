"""Training stage ``depth``: the built-in :class:`~ssr.depth.builtin.DepthNet` on RGB-D pairs.

``ssr train depth --config configs/depth_cpu.yaml`` (see ``configs/depth_*.yaml``).

Data (``data:`` section)
    RGB-D pairs (default ``../shared/datasets/depth/RGBDD``: 16-bit depth in mm, converted to
    inverse depth ``1 / z``; zeros are invalid and masked out of every loss) held in memory.
    Every ``holdout_every``-th pair (sorted by name; index % N == 0) is held out for validation
    and never trained on. With ``synth.prob > 0`` that fraction of the samples is drawn instead
    from ``synth.count`` procedural scenes (:mod:`ssr.depth.synth`, textured with the pictures
    under ``synth.textures``, rendered once into ``synth.cache``) and goes through the same
    augmentations (``synth.scene`` overrides :class:`~ssr.depth.synth.SynthConfig` fields of the
    training scenes: cones, poles, stacking, close-up table tops); ``synth.val`` more scenes of
    stream ``synth.seed + 1``, with the default generator, are validated on. For sample ``i`` of the run everything is drawn from
    :func:`ssr.train.data.sample_generator` ``(seed, i)``, so the stream is reproducible and
    resumes exactly:

    * a random crop covering ``crop_area`` of the picture (scale jitter) with the aspect of
      ``size`` jittered by ``exp(U(-aspect_jitter, aspect_jitter))``;
    * resized to ``size`` (bilinear, antialiased; depth and mask nearest-neighbour);
    * with probability ``backdrop_prob``, backdrop replacement: the farthest part of the crop
      shows a crop of another picture, depth unchanged (texture alone does not mean "near");
    * with probability ``floor_prob``, a synthetic textured ground plane (floor / table top)
      with exact plane geometry, z-buffered into the lower part of the crop (RGBDD shows
      little floor; evaluation scenes are full of floors and tables);
    * with probability ``paste_prob``, depth-aware copy-paste: the near part of a crop of
      another picture is pasted into this one, standing on the synthetic floor when it lands
      on one (lower = nearer, z-buffered), else held in front of what it covers;
    * with probability ``degrade_prob`` degraded by the x2 or x4 (``degrade_scales``)
      :class:`~ssr.degradation.DegradationPipeline` (``degrade_preset``, its own synthetic
      depth for the blur field) and bicubic-upsampled back, as SSR's depth estimator sees LR
      and super-resolved pictures (done at the training size, which is also about the size
      the network sees at inference); else with probability ``blur_prob`` Gaussian-blurred
      (sigma in ``blur_sigma`` pixels);
    * horizontal flip with probability ``hflip`` (never vertical flips or rotations: "down"
      carries depth information);
    * colour channels permuted with probability ``channel_shuffle`` (so colour alone cannot
      say "near"), colour jitter of strength ``color_jitter`` (brightness, contrast,
      saturation, gamma, per-channel gains) and grey conversion with probability ``gray_prob``.

Loss (``loss:`` section)
    Targets are inverse depth normalised per image to median 0 / mean absolute deviation 1.
    The prediction is aligned to its target by per-image least squares (scale clamped to at
    least ``min_scale`` so a sign-flipped map is never rewarded), then
    ``ssi_mae + grad_weight * gradient_matching`` over ``grad_scales`` scales
    ``+ absrel_weight * aligned_absrel`` (the evaluation's AbsRel against the un-normalised
    target inverse depth; 0 = off) (:mod:`ssr.depth.losses`).

Validation (``eval_every`` steps, EMA weights): AbsRel / delta1 (:mod:`ssr.depth.metrics`) on
the held-out pairs, clean and x4-degraded (fixed seeds), through the same inference path
as the shipped estimator.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..degradation.apply import gaussian_blur as _blur
from ..errors import SSRError
from ..depth.builtin import BuiltinDepthEstimator, DepthNet, resize_image
from ..depth.data import load_pairs, pair_files, read_raw_depth
from ..depth.losses import aligned_absrel, gradient_matching, normalize_target, ssi_mae
from .data import resolve_data_path, sample_generator
from .trainer import Trainer


class DepthTrainer(Trainer):
    """Stage ``depth`` (see the module docstring)."""

    defaults = {
        "steps": 4000,
        "batch_size": 8,
        "lr": 2.0e-3,
        "weight_decay": 1.0e-4,
        "warmup_steps": 200,
        "ema_decay": 0.995,
        "eval_every": 500,
        "model": {},
        "data": {
            "root": "../shared/datasets/depth/RGBDD",
            "convention": "distance",
            "holdout_every": 20,
            "max_images": None,
            "val_images": None,
            "size": [160, 224],
            "crop_area": [0.4, 1.0],
            "aspect_jitter": 0.2,
            "hflip": 0.5,
            "color_jitter": 0.3,
            "gray_prob": 0.05,
            "channel_shuffle": 0.0,
            "paste_prob": 0.0,
            "backdrop_prob": 0.0,
            "floor_prob": 0.0,
            "degrade_prob": 0.3,
            "degrade_scales": [2, 4],
            "degrade_preset": "noise-jpeg",
            "blur_prob": 0.15,
            "blur_sigma": [0.5, 2.0],
            "channels_last": True,
            "synth": {"prob": 0.0, "count": 1000, "val": 32, "seed": 20261128, "size": [192, 256],
                      "textures": "../shared/datasets/train", "workers": 1, "cache": None, "scene": {}},
        },
        "loss": {"grad_weight": 0.5, "grad_scales": 4, "min_scale": 1.0e-3, "absrel_weight": 0.0},
    }

    def __init__(self, cfg: dict, out_dir, device: str | None = None, resume: bool = False):
        self._load_data(cfg["data"])
        super().__init__(cfg, out_dir, device=device, resume=resume)

    # ---- data -------------------------------------------------------------------------------
    def _load_data(self, dcfg: dict) -> None:
        root = resolve_data_path(dcfg["root"])
        pairs = pair_files(root)
        every = int(dcfg.get("holdout_every") or 0)
        train_idx = [i for i in range(len(pairs)) if not every or i % every != 0]
        val_idx = [i for i in range(len(pairs)) if every and i % every == 0]
        if dcfg.get("max_images"):
            train_idx = train_idx[: int(dcfg["max_images"])]
        if dcfg.get("val_images") is not None:
            val_idx = val_idx[: int(dcfg["val_images"])]
        if not train_idx:
            raise SSRError(f"no training pairs left in {root}")
        from ..io import read_image

        self.images: list[torch.Tensor] = []
        self.depths: list[torch.Tensor] = []
        conv = dcfg.get("convention", "distance")
        for i in train_idx:
            rgb_path, depth_path = pairs[i]
            rgb = read_image(rgb_path).rgb
            raw = read_raw_depth(depth_path)
            if raw.shape != tuple(rgb.shape[-2:]):
                raise SSRError(f"{depth_path.name} and {rgb_path.name} differ in size")
            valid = raw > 0
            inv = np.zeros_like(raw)
            inv[valid] = 1.0 / raw[valid] if conv == "distance" else raw[valid]
            if valid.any():
                inv /= np.median(inv[valid])
            self.images.append((rgb * 255 + 0.5).to(torch.uint8))
            self.depths.append(torch.from_numpy(inv.astype(np.float16))[None])
        self.train_names = [pairs[i][0].name for i in train_idx]
        self.val_samples = load_pairs(root, convention=conv, indices=val_idx) if val_idx else []
        self.data_root = root
        self.synth_images: list[torch.Tensor] = []
        self.synth_depths: list[torch.Tensor] = []
        self.synth_val: list = []
        sc = {**self.defaults["data"]["synth"], **(dcfg.get("synth") or {})}
        dcfg["synth"] = sc
        if float(sc["prob"]) > 0 and int(sc["count"]) > 0:
            self._load_synth(sc)

    def _load_synth(self, sc: dict) -> None:
        """Render (or load from ``cache``) the procedural scene pool (:mod:`ssr.depth.synth`):
        ``count`` training scenes from stream ``seed`` and ``val`` validation scenes from stream
        ``seed + 1``."""
        from ..depth.synth import SynthConfig, as_samples, cached_pool, load_textures, synth_config

        textures = load_textures(resolve_data_path(sc["textures"]))
        scfg = synth_config(sc)
        rgbs, invs = cached_pool(int(sc["count"]), int(sc["seed"]), textures, scfg, cache=sc.get("cache"),
                                 workers=int(sc.get("workers") or 1))
        self.synth_images = [torch.from_numpy(r).permute(2, 0, 1).contiguous() for r in rgbs]
        self.synth_depths = [torch.from_numpy(v)[None] for v in invs]
        if int(sc.get("val") or 0) > 0:
            # validation scenes: the default generator (``scene`` overrides apply to training
            # only), so ``val_synth_*`` stays comparable between runs with different scenes
            vcfg = SynthConfig(size=tuple(sc["size"]))
            vr, vi = cached_pool(int(sc["val"]), int(sc["seed"]) + 1, textures, vcfg, cache=sc.get("cache"),
                                 workers=int(sc.get("workers") or 1))
            self.synth_val = as_samples(vr, vi)

    def _sample(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.cfg["data"]
        g = sample_generator(int(self.cfg["seed"]), index)

        def u(a: float, b: float) -> float:
            return a + (b - a) * float(torch.rand((), generator=g))

        images, depths = self.images, self.depths
        if self.synth_images:
            gs = sample_generator(int(self.cfg["seed"]) + 49979687, index)
            if float(torch.rand((), generator=gs)) < float(d["synth"]["prob"]):
                images, depths = self.synth_images, self.synth_depths
        j = int(torch.randint(len(images), (), generator=g))
        img, inv = images[j], depths[j]
        H, W = img.shape[-2:]
        th, tw = d["size"]
        area = u(*d["crop_area"]) * H * W
        aspect = (tw / th) * math.exp(u(-d["aspect_jitter"], d["aspect_jitter"]))
        ch = int(round(min(H, math.sqrt(area / aspect))))
        cw = int(round(min(W, ch * aspect)))
        ch, cw = max(ch, 16), max(cw, 16)
        y = int(torch.randint(H - ch + 1, (), generator=g))
        x = int(torch.randint(W - cw + 1, (), generator=g))
        rgb = img[:, y:y + ch, x:x + cw].float() / 255.0
        dep = inv[:, y:y + ch, x:x + cw].float()

        rgb = resize_image(rgb[None], (th, tw))[0].clamp(0, 1)
        dep = F.interpolate(dep[None], size=(th, tw), mode="nearest")[0]
        if d.get("backdrop_prob", 0) > 0:
            rgb = self._backdrop(rgb, dep, index)
        plane = None
        if d.get("floor_prob", 0) > 0:
            rgb, dep, plane = self._floor(rgb, dep, index)
        if d.get("paste_prob", 0) > 0:
            rgb, dep = self._paste(rgb, dep, index, plane)
        r = float(torch.rand((), generator=g))
        if r < d["degrade_prob"]:
            rgb = self._degrade(rgb, g)
        elif r < d["degrade_prob"] + d["blur_prob"]:
            rgb = gaussian_blur(rgb, u(*d["blur_sigma"]))
        if float(torch.rand((), generator=g)) < d["hflip"]:
            rgb, dep = rgb.flip(-1), dep.flip(-1)
        if float(torch.rand((), generator=g)) < d["channel_shuffle"]:
            rgb = rgb[torch.randperm(3, generator=g)]
        rgb = color_jitter(rgb, g, float(d["color_jitter"]), float(d["gray_prob"]))
        return rgb, dep

    def _random_crop(self, g: torch.Generator, size: tuple[int, int], area: tuple[float, float]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """A random crop of a random training picture (``area`` fraction of it) resized to ``size``."""
        def u(a: float, b: float) -> float:
            return a + (b - a) * float(torch.rand((), generator=g))

        j = int(torch.randint(len(self.images), (), generator=g))
        img, inv = self.images[j], self.depths[j]
        H, W = img.shape[-2:]
        f = math.sqrt(u(*area))
        ch, cw = max(8, int(H * f)), max(8, int(W * f))
        y = int(torch.randint(H - ch + 1, (), generator=g))
        x = int(torch.randint(W - cw + 1, (), generator=g))
        src = resize_image(img[None, :, y:y + ch, x:x + cw].float() / 255.0, size)[0].clamp(0, 1)
        sdep = F.interpolate(inv[None, :, y:y + ch, x:x + cw].float(), size=size, mode="nearest")[0]
        return src, sdep

    def _backdrop(self, rgb: torch.Tensor, dep: torch.Tensor, index: int) -> torch.Tensor:
        """Backdrop replacement: with probability ``backdrop_prob`` the farthest 30-60 % of the
        crop's valid pixels show instead a crop of another training picture, their depth
        unchanged (a picture on the far wall: texture, faces or objects alone do not mean
        "near")."""
        d = self.cfg["data"]
        g = sample_generator(int(self.cfg["seed"]) + 15485863, index)
        if float(torch.rand((), generator=g)) >= d["backdrop_prob"]:
            return rgb
        valid = dep > 0
        if int(valid.sum()) < 16:
            return rgb
        qv = 0.3 + 0.3 * float(torch.rand((), generator=g))
        far = (dep <= torch.quantile(dep[valid], qv)) & valid
        tex, _ = self._random_crop(g, tuple(rgb.shape[-2:]), (0.2, 1.0))
        return torch.where(far.expand_as(rgb), tex, rgb)

    def _floor(self, rgb: torch.Tensor, dep: torch.Tensor, index: int
               ) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float, float] | None]:
        """Synthetic ground plane: with probability ``floor_prob`` a textured floor (or table top)
        is rendered into the lower part of the crop with exact plane geometry and z-buffered
        against the scene (it only covers what lies behind it).

        A horizontal plane seen by a camera whose horizon is at row ``y_h`` has inverse depth
        proportional to ``y - y_h`` below the horizon. The plane meets the scene's backdrop at a
        random contact row ``y0`` with the inverse depth ``inv_c`` of a far quantile of the crop,
        so for ``y >= y0``: ``inv(y) = inv_c * (y - y_h) / (y0 - y_h)``; ``y0 - y_h`` is drawn so
        that the bottom row is 1.1-3.2 times nearer than the contact row (indoor floors and
        table tops seen from a standing or sitting height). The texture is a crop of another
        training picture mapped with the same perspective. RGBDD is mostly people in front of
        backdrops with little floor in view; this teaches the geometry of floors and tables.

        Returns the new ``rgb``, ``dep`` and the plane ``(y0, y_h, inv_c)`` (``None`` if none).
        """
        d = self.cfg["data"]
        g = sample_generator(int(self.cfg["seed"]) + 32452843, index)

        def u(a: float, b: float) -> float:
            return a + (b - a) * float(torch.rand((), generator=g))

        if float(torch.rand((), generator=g)) >= d["floor_prob"]:
            return rgb, dep, None
        valid = dep > 0
        if int(valid.sum()) < 16:
            return rgb, dep, None
        th, tw = rgb.shape[-2:]
        y0 = u(0.35, 0.8) * th
        yh = y0 - u(0.3, 1.5) * th
        inv_c = float(torch.quantile(dep[valid], u(0.05, 0.4)))
        ys = torch.arange(th, dtype=torch.float32) + 0.5
        below = ys >= y0
        ratio = (ys - yh) / (y0 - yh)                   # 1 at the contact row, grows downward
        rel_depth = 1.0 / ratio                         # depth relative to the contact row (<= 1 below it)
        d_min = float(rel_depth[-1])
        tex, _ = self._random_crop(g, (th, tw), (0.1, 0.6))
        xs = torch.arange(tw, dtype=torch.float32) + 0.5
        gx = ((xs[None, :] - tw / 2) / (tw / 2)) * rel_depth[:, None] * u(0.6, 1.5)
        gy = (1 - 2 * (rel_depth[:, None] - d_min) / max(1.0 - d_min, 1e-6)).expand(th, tw)
        grid = torch.stack([gx.expand(th, tw), gy], -1)[None]
        floor_rgb = F.grid_sample(tex[None], grid, mode="bilinear", padding_mode="reflection",
                                  align_corners=False)[0]
        floor_rgb = (floor_rgb * u(0.7, 1.2)).clamp(0, 1)
        floor_inv = (inv_c * ratio)[:, None].expand(th, tw)[None]
        cover = below[None, :, None] & ((floor_inv >= dep) | ~valid)
        rgb = torch.where(cover.expand_as(rgb), floor_rgb, rgb)
        dep = torch.where(cover, floor_inv, dep)
        return rgb, dep, (y0, yh, inv_c)

    def _paste(self, rgb: torch.Tensor, dep: torch.Tensor, index: int,
               plane: tuple[float, float, float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Depth-aware copy-paste: with probability ``paste_prob`` the near part of a crop of
        another training picture (its pixels nearer than a random quantile of the crop's depth)
        is pasted onto this crop. If its lowest row lands on the synthetic floor ``plane`` (see
        :meth:`_floor`) it stands there: its inverse depth is rescaled so that its median equals
        the floor's at that row, and it is z-buffered against the scene (lower objects are
        nearer). Otherwise it is held in front of everything it covers (its inverse depth
        rescaled to exceed theirs by 5-50 %). Draws come from their own generator, so the rest
        of the sample is the same with or without pasting."""
        d = self.cfg["data"]
        g = sample_generator(int(self.cfg["seed"]) + 104729, index)

        def u(a: float, b: float) -> float:
            return a + (b - a) * float(torch.rand((), generator=g))

        if float(torch.rand((), generator=g)) >= d["paste_prob"]:
            return rgb, dep
        th, tw = rgb.shape[-2:]
        oh = max(8, int(th * u(0.25, 0.8)))
        src, sdep = self._random_crop(g, (oh, max(8, min(tw, int(round(oh * u(0.6, 1.4)))))), (0.09, 0.5))
        ow = src.shape[-1]
        valid = sdep > 0
        if int(valid.sum()) < 16:
            return rgb, dep
        q = torch.quantile(sdep[valid], u(0.5, 0.8))
        mask = (sdep > q) & valid
        if int(mask.sum()) < 0.05 * oh * ow:
            return rgb, dep
        py = int(torch.randint(th - oh + 1, (), generator=g))
        px = int(torch.randint(tw - ow + 1, (), generator=g))
        rgb, dep = rgb.clone(), dep.clone()
        region_rgb = rgb[:, py:py + oh, px:px + ow]
        region_dep = dep[:, py:py + oh, px:px + ow]
        rows = torch.nonzero(mask[0].any(1))
        bottom = py + int(rows.max()) + 0.5
        if plane is not None and bottom >= plane[0]:
            y0, yh, inv_c = plane
            inv_obj = sdep * (inv_c * (bottom - yh) / (y0 - yh) * u(0.95, 1.1) / sdep[mask].median())
            put = mask & ((inv_obj >= region_dep) | (region_dep <= 0))
        else:
            under = region_dep[mask & (region_dep > 0)]
            front = under.max() if under.numel() else dep[dep > 0].max()
            inv_obj = sdep * (front * u(1.05, 1.5) / sdep[mask].min())
            put = mask
        region_rgb[put.expand_as(region_rgb)] = src[put.expand_as(src)]
        region_dep[put] = inv_obj[put]
        return rgb, dep

    def _degrade(self, rgb: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Degrade a ``3 x h x w`` crop (already at the training size) at a random scale and
        bicubic-upsample it back; the edge rows/columns beyond a multiple of the scale are kept."""
        from ..degradation import DegradationConfig, DegradationPipeline

        d = self.cfg["data"]
        scales = list(d["degrade_scales"])
        s = int(scales[int(torch.randint(len(scales), (), generator=g))])
        h, w = rgb.shape[-2:]
        hc, wc = h - h % s, w - w % s
        if hc < 4 * s or wc < 4 * s:
            return rgb
        pipe = DegradationPipeline(DegradationConfig.preset(d["degrade_preset"], scale=s))
        lr = pipe(rgb[:, :hc, :wc], generator=g).lr
        out = rgb.clone()
        out[:, :hc, :wc] = F.interpolate(lr, size=(hc, wc), mode="bicubic", align_corners=False).clamp(0, 1)[0]
        return out

    def make_batch(self, indices: list[int], device: torch.device) -> dict[str, torch.Tensor]:
        xs, ds = zip(*(self._sample(i) for i in indices))
        x = torch.stack(xs).to(device)
        dep = torch.stack(ds).to(device)
        if self.cfg["data"].get("channels_last"):
            x = x.contiguous(memory_format=torch.channels_last)
        valid = dep > 0
        return {"image": x, "target": normalize_target(dep, valid), "valid": valid, "inv": dep}

    # ---- model and loss ---------------------------------------------------------------------
    def build_model(self) -> DepthNet:
        model = DepthNet(**self.cfg["model"])
        if self.cfg["data"].get("channels_last"):
            model = model.to(memory_format=torch.channels_last)
        return model

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        lc = self.cfg["loss"]
        pred = self.model(batch["image"]).float()
        ssi, aligned, s = ssi_mae(pred, batch["target"], batch["valid"], min_scale=lc["min_scale"])
        loss = ssi
        logs = {"ssi": float(ssi.detach()), "neg_scale": float((s <= lc["min_scale"]).float().mean())}
        if lc["grad_weight"]:
            gm = gradient_matching(aligned, batch["target"], batch["valid"], int(lc["grad_scales"]))
            loss = loss + lc["grad_weight"] * gm
            logs["grad"] = float(gm.detach())
        if lc.get("absrel_weight"):
            ar = aligned_absrel(pred, batch["inv"].float(), batch["valid"], min_scale=lc["min_scale"])
            loss = loss + lc["absrel_weight"] * ar
            logs["absrel"] = float(ar.detach())
        return loss, logs

    def evaluate(self) -> dict[str, float]:
        if not self.val_samples:
            return {}
        from ..depth.evaluate import evaluate_estimator

        est = BuiltinDepthEstimator(self.unwrapped)
        clean = evaluate_estimator(est, self.val_samples)
        deg = evaluate_estimator(est, self.val_samples, degrade=True, seed=1000)
        self._last_val = {"val_absrel": clean["absrel"], "val_delta1": clean["delta1"],
                          "val_deg_absrel": deg["absrel"], "val_deg_delta1": deg["delta1"]}
        if self.synth_val:
            syn = evaluate_estimator(est, self.synth_val)
            self._last_val.update(val_synth_absrel=syn["absrel"], val_synth_delta1=syn["delta1"])
        return dict(self._last_val)

    def export_extra(self) -> dict:
        extra = {"data": str(self.cfg["data"]["root"]), "train_pairs": len(self.images),
                 "synth_scenes": len(self.synth_images), "synth_prob": float(self.cfg["data"]["synth"]["prob"]),
                 "val_pairs": len(self.val_samples), "holdout_every": self.cfg["data"]["holdout_every"],
                 "lr": self.cfg["lr"], "size": list(self.cfg["data"]["size"])}
        if getattr(self, "_last_val", None):
            extra["val"] = self._last_val
        return extra


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``C x H x W`` (:func:`ssr.degradation.apply.gaussian_blur`)."""
    return _blur(x[None], sigma)[0]


def color_jitter(x: torch.Tensor, g: torch.Generator, strength: float, gray_prob: float = 0.0) -> torch.Tensor:
    """Random brightness, contrast, saturation, gamma and per-channel gains of ``3 x H x W``."""
    if strength <= 0 and gray_prob <= 0:
        return x

    def u(a: float, b: float) -> float:
        return a + (b - a) * float(torch.rand((), generator=g))

    s = strength
    lum_w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    if s > 0:
        x = x ** math.exp(u(-s, s))
        x = x * u(1 - s, 1 + s)
        mean = (x * lum_w).sum(0, keepdim=True).mean()
        x = (x - mean) * u(1 - s, 1 + s) + mean
        lum = (x * lum_w).sum(0, keepdim=True)
        x = (x - lum) * u(1 - s, 1 + s) + lum
        gains = 1 + (torch.rand(3, 1, 1, generator=g) * 2 - 1) * (s / 3)
        x = x * gains
    if gray_prob > 0 and float(torch.rand((), generator=g)) < gray_prob:
        x = (x * lum_w).sum(0, keepdim=True).expand(3, -1, -1)
    return x.clamp(0, 1).contiguous()
