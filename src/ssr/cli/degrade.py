"""``ssr degrade``: synthesise a realistic low-resolution image from a high-resolution one."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..assets import sample_depth_path, sample_image_path
from ..choices import FAMILIES, FIELD_KINDS, PRESETS
from ..errors import SSRError
from ..io import check_readable, read_depth, read_image, resize_alpha, write_image, write_json
from .common import add_max_pixels, check_max_pixels, precheck

#: seeds are 64-bit (torch generators)
MAX_SEED = 2**63 - 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "degrade",
        help="blur (per-pixel, depth-informed), downsample, add noise and JPEG",
        description="Degrade an HR image into a realistic LR image (paper Eq. 1 with a kernel per "
        "pixel). Blur grows with the distance from a random focal plane in the scene's depth.",
    )
    p.add_argument("input", nargs="?", help="HR image (omit with --sample)")
    p.add_argument("-o", "--output", required=True, help="LR image to write (.png, .jpg, .webp, ...)")
    p.add_argument("--sample", action="store_true", help="use the sample picture shipped with SSR (and its depth)")
    p.add_argument("--scale", type=int, default=4, choices=(2, 3, 4), help="downsampling factor (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same LR (default 0)")
    p.add_argument("--preset", default="noise-jpeg", choices=PRESETS, help="degradation regime (default noise-jpeg)")
    p.add_argument("--field", default="depth", choices=FIELD_KINDS,
                   help="how blur varies: with depth (default), smoothly at random, not at all, by regions "
                   "(piecewise) or growing away from the centre like a lens's aberrations (radial)")
    p.add_argument("--family", default="gaussian", choices=FAMILIES, help="kernel family (default gaussian)")
    p.add_argument("--motion", type=float, default=0.0, metavar="P",
                   help="probability of adding a global camera-shake component (default 0)")
    p.add_argument("--config", help="YAML or JSON degradation recipe (overrides the options above)")
    p.add_argument("--depth", help="depth map for the HR image (image or .npy); default: synthetic")
    p.add_argument("--depth-is-distance", action="store_true",
                   help="the --depth map grows with distance (metric depth) rather than nearness")
    p.add_argument("--save-kernels", metavar="PNG", help="write a picture of the kernel grid over the image")
    p.add_argument("--save-depth", metavar="PNG", help="write the depth map used (colour-mapped)")
    p.add_argument("--save-params", metavar="JSON", help="write the drawn parameters and the recipe")
    add_max_pixels(p)
    p.set_defaults(func=run)


def load_config(args: argparse.Namespace):
    """The :class:`~ssr.degradation.DegradationConfig` of the options or of ``--config``."""
    from ..degradation import DegradationConfig, FieldConfig

    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise SSRError(f"config not found: {path}")
        text = path.read_text()
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # noqa: BLE001
            raise SSRError(f"cannot parse {path}: {exc}") from None
        if not isinstance(data, dict):
            raise SSRError(f"{path} must hold a mapping of options")
        data = data.get("degradation", data)
        data.setdefault("scale", args.scale)
        return DegradationConfig.from_dict(data)
    field = FieldConfig(kind=args.field, family=args.family, motion_prob=args.motion)
    return DegradationConfig.preset(args.preset, scale=args.scale, field=field)


def run(args: argparse.Namespace) -> int:
    if args.sample == bool(args.input):
        raise SSRError("give exactly one input: an image path or --sample")
    if not 0 <= args.seed <= MAX_SEED:
        raise SSRError(f"--seed must lie in 0..{MAX_SEED}, got {args.seed}")
    if not 0.0 <= args.motion <= 1.0:  # also refuses nan
        raise SSRError(f"--motion is a probability in [0, 1], got {args.motion}")
    src = sample_image_path() if args.sample else Path(args.input)
    depth_path = args.depth or (str(sample_depth_path()) if args.sample else None)
    max_pixels = check_max_pixels(args)
    precheck([src], max_pixels)  # a missing or bad picture: refused before torch loads
    if depth_path:
        check_readable(Path(depth_path))
    cfg = load_config(args)  # a bad recipe is refused before the picture is decoded
    from ..degradation import DegradationPipeline
    from ..viz import colorize, kernel_grid

    img = read_image(src, max_pixels)
    H, W = img.size
    if H < cfg.scale * 4 or W < cfg.scale * 4:
        raise SSRError(f"{src} is {W}x{H}: too small to degrade at x{cfg.scale}")
    depth = read_depth(depth_path, distance=args.depth_is_distance) if depth_path else None

    outputs = [p for p in (args.output, args.save_kernels, args.save_depth, args.save_params) if p]
    if len({Path(p).resolve() for p in outputs}) != len(outputs):
        raise SSRError("the output paths must differ from each other")

    out = DegradationPipeline(cfg)(img.rgb, seed=args.seed, depth=depth)
    lr = out.lr[0]
    alpha = None
    if img.alpha is not None:
        hr_alpha = img.alpha[..., : out.hr.shape[-2], : out.hr.shape[-1]]
        alpha = resize_alpha(hr_alpha, tuple(lr.shape[-2:]))
    protect = [src] + ([depth_path] if depth_path else [])
    write_image(args.output, lr, alpha, grayscale=img.grayscale, protect=protect)
    if args.save_kernels:
        write_image(args.save_kernels, kernel_grid(out.hr[0], out.kernels[0]), protect=protect)
    if args.save_depth:
        write_image(args.save_depth, colorize(out.depth[0]), protect=protect)
    if args.save_params:
        record = {"input": str(src), "recipe": cfg.to_dict(), "params": out.params[0],
                  "hr_size": list(out.hr.shape[-2:]), "lr_size": list(lr.shape[-2:])}
        write_json(args.save_params, record, protect)
    print(f"wrote {args.output} ({lr.shape[-1]}x{lr.shape[-2]}, x{cfg.scale}, seed {args.seed})")
    return 0

