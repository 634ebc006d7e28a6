"""The seeded degradation pipeline (paper Eq. 1 with a kernel per pixel):

    ``LR = JPEG( (HR conv K(x, y)) downsampled by s + n )``

:class:`DegradationPipeline` turns HR images into ``(lr, hr, kernels, depth)`` plus every
parameter it drew. The same seed gives identical results on the same device.

Presets follow the paper's three regimes (Table 3) and add a blur-only one:

==============  ===========================================
``noise-jpeg``  blur + noise + JPEG (the default)
``no-noise``    blur + JPEG
``no-jpeg``     blur + noise
``blur-only``   blur alone (kernel studies, unit tests)
==============  ===========================================
"""
from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field as dc_field

import torch

from .apply import apply_kernel_field, crop_to_multiple
from .fields import (OMIT_WHEN_OFF, FieldConfig, depth_informed_field, piecewise_field, radial_field, random_invariant_field,
                     smooth_random_field)
from ..choices import PRESETS
from .noise import JpegConfig, NoiseConfig, sample_and_add_noise, sample_and_jpeg
from .random import device_generator
from .synthetic_depth import random_depth, to_resolution

OPS = ("noise", "jpeg")


@dataclass
class DegradationConfig:
    """Everything that defines a degradation recipe.

    Attributes:
        scale: 2, 3 or 4.
        field: how kernel fields are drawn (:class:`~ssr.degradation.fields.FieldConfig`).
        noise: noise model, or ``None`` for no noise.
        jpeg: JPEG model, or ``None`` for no JPEG.
        order: order of the operations after blur + downsampling (``noise``, ``jpeg``).
        depth_kind: kind of synthetic depth drawn when none is given (``None``: random kind).
        quantize: round the LR image to 8 bits at the end (as a saved file would be).
    """

    scale: int = 4
    field: FieldConfig = dc_field(default_factory=FieldConfig)
    noise: NoiseConfig | None = dc_field(default_factory=NoiseConfig)
    jpeg: JpegConfig | None = dc_field(default_factory=JpegConfig)
    order: tuple[str, ...] = ("noise", "jpeg")
    depth_kind: str | None = None
    quantize: bool = True

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 3, 4, 8):
            raise ValueError(f"scale must be 2, 3 or 4 (or 1/8), got {self.scale}")
        bad = [op for op in self.order if op not in OPS]
        if bad:
            raise ValueError(f"unknown operations {bad} in order; allowed: {OPS}")
        self.order = tuple(self.order)

    @classmethod
    def preset(cls, name: str, scale: int = 4, **overrides) -> "DegradationConfig":
        """A named recipe (see module docstring); keyword overrides replace top-level fields."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        cfg = cls(scale=scale)
        if name in ("no-noise", "blur-only"):
            cfg.noise = None
        if name in ("no-jpeg", "blur-only"):
            cfg.jpeg = None
        for key, value in overrides.items():
            setattr(cfg, key, value)
        cfg.__post_init__()
        return cfg

    def to_dict(self) -> dict:
        """Plain-dict form (JSON/YAML friendly). Field options added after recipes were first
        fingerprinted (:data:`~ssr.degradation.fields.OMIT_WHEN_OFF`) are left out while off, so
        the bench cells and cached sets of the same degradations stay valid."""
        d = asdict(self)
        d["order"] = list(self.order)
        for key in OMIT_WHEN_OFF:
            if d["field"].get(key) is None:
                d["field"].pop(key, None)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DegradationConfig":
        """Inverse of :meth:`to_dict`; also accepts ``preset: NAME`` plus overrides."""
        d = copy.deepcopy(dict(d))
        preset = d.pop("preset", None)
        base = cls.preset(preset, scale=d.get("scale", 4)) if preset else cls(scale=d.get("scale", 4))
        if "field" in d:
            base.field = FieldConfig(**{**asdict(base.field), **(d.pop("field") or {})})
        for key, kls in (("noise", NoiseConfig), ("jpeg", JpegConfig)):
            if key in d:
                v = d.pop(key)
                cur = getattr(base, key)
                setattr(base, key, None if v is None else kls(**{**(asdict(cur) if cur else {}), **v}))
        for key, value in d.items():
            if not hasattr(base, key):
                raise ValueError(f"unknown degradation option {key!r}")
            setattr(base, key, tuple(value) if key == "order" else value)
        base.__post_init__()
        return base


@dataclass
class DegradationResult:
    """Output of :class:`DegradationPipeline`.

    Attributes:
        lr: ``B x 3 x h x w`` in [0, 1].
        hr: ``B x 3 x H x W`` in [0, 1], the input cropped to a multiple of the scale.
        kernels: ``B x k*k x h x w``, the kernel applied at each LR pixel.
        depth: ``B x 1 x H x W`` relative inverse depth in [0, 1] (given or synthesised).
        params: one dict per image with every drawn parameter (and the seed).
    """

    lr: torch.Tensor
    hr: torch.Tensor
    kernels: torch.Tensor
    depth: torch.Tensor
    params: list[dict]


class DegradationPipeline:
    """Seeded generator of blind-SR training and test pairs.

    Example::

        pipe = DegradationPipeline(DegradationConfig.preset("noise-jpeg", scale=4))
        out = pipe(hr, seed=0)          # hr: 3 x H x W or B x 3 x H x W in [0, 1]
        out.lr, out.kernels, out.depth
    """

    def __init__(self, config: DegradationConfig | None = None, device: str | torch.device | None = None):
        self.config = config or DegradationConfig()
        self.device = torch.device(device) if device is not None else None

    def __call__(
        self,
        hr: torch.Tensor,
        seed: int | None = None,
        depth: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> DegradationResult:
        """Degrade ``hr``.

        Args:
            hr: ``3 x H x W`` or ``B x 3 x H x W`` in [0, 1].
            seed: fixes every random draw; ``None`` draws a fresh seed (recorded in params).
            depth: optional relative inverse depth (``H x W``, ``1 x H x W`` or ``B x 1 x H x W``,
                values in [0, 1], 1 = near); resized to the HR size. Synthesised when absent.
            generator: a CPU generator to draw from instead of ``seed``.
        """
        cfg = self.config
        s = cfg.scale
        if hr.dim() == 3:
            hr = hr.unsqueeze(0)
        if hr.dim() != 4 or hr.shape[1] != 3:
            raise ValueError(f"hr must be 3 x H x W or B x 3 x H x W, got {tuple(hr.shape)}")
        dev = self.device or hr.device
        hr = crop_to_multiple(hr.to(dev, torch.float32), s)
        b, _, H, W = hr.shape
        h, w = H // s, W // s
        if h < 1 or w < 1:
            raise ValueError(f"image {H}x{W} is smaller than the scale {s}")
        if generator is None:
            if seed is None:
                seed = int.from_bytes(os.urandom(6), "little")
            generator = torch.Generator().manual_seed(int(seed))
        gen = generator

        if depth is None:
            depth, kind = random_depth(gen, b, H, W, kind=cfg.depth_kind, device=dev)
            depth_source = f"synthetic-{kind}"
        else:
            depth = _as_depth_batch(depth, b).to(dev, torch.float32)
            depth = to_resolution(depth, (H, W)).clamp(0, 1)
            depth_source = "given"
        depth_lr = to_resolution(depth, (h, w))

        cfg.field.resolved(s)  # refuses an unknown field kind or family before anything is drawn
        if cfg.field.kind == "depth":
            fld, info = depth_informed_field(depth_lr, gen, cfg.field, s)
        else:
            make = {"smooth": smooth_random_field, "piecewise": piecewise_field, "radial": radial_field,
                    "invariant": random_invariant_field}[cfg.field.kind]
            fld, info = make(gen, b, h, w, cfg.field, s, device=dev)

        lr = apply_kernel_field(hr, fld, s)
        dgen = device_generator(gen, dev)
        params = []
        outs = []
        for i in range(b):
            x = lr[i]
            p = {"seed": seed, "scale": s, "depth": depth_source, **info["params"][i]}
            for op in cfg.order:
                if op == "noise" and cfg.noise is not None:
                    x, q = sample_and_add_noise(x, cfg.noise, dgen)
                    p.update(q)
                elif op == "jpeg" and cfg.jpeg is not None:
                    x, q = sample_and_jpeg(x.clamp(0, 1), cfg.jpeg, gen)
                    p.update(q)
            x = x.clamp(0, 1)
            if cfg.quantize:
                x = torch.round(x * 255.0) / 255.0
            outs.append(x)
            params.append(p)
        return DegradationResult(lr=torch.stack(outs), hr=hr, kernels=fld, depth=depth, params=params)


def _as_depth_batch(depth: torch.Tensor, b: int) -> torch.Tensor:
    d = torch.as_tensor(depth, dtype=torch.float32)
    if d.dim() == 2:
        d = d[None, None]
    elif d.dim() == 3:
        d = d[None] if d.shape[0] == 1 else d[:, None]
    if d.dim() != 4 or d.shape[1] != 1:
        raise ValueError(f"depth must be H x W, 1 x H x W or B x 1 x H x W, got {tuple(depth.shape)}")
    if d.shape[0] == 1 and b > 1:
        d = d.expand(b, -1, -1, -1)
    if d.shape[0] != b:
        raise ValueError(f"depth batch {d.shape[0]} does not match image batch {b}")
    return d
