"""``ssr upscale``: super-resolve photos with the shipped (or given) SSR pipeline."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..choices import COLOR_FIXES, PRECISIONS, check_blend, check_realism, scheduler_names
from ..errors import SSRError, batch_error
from ..io import READ_EXTS, Protected, as_protected, list_images, read_image, write_image
from .common import add_max_pixels, check_max_pixels, check_output_path, check_weights, outside, precheck


#: smallest LR tile ``--tile`` accepts (the floor of ``ssr.tiling.run_tiled``)
MIN_TILE = 8


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale", help="super-resolve images (SVKR, then the AMF-guided diffusion stage when available)",
        description="Super-resolve photos whose blur is unknown and varies across the picture. With diffusion "
                    "weights in the pipeline, SVKR's result is refined by the AMF-conditioned diffusion stage "
                    "(the default); --no-diffusion keeps SVKR alone.")
    p.add_argument("inputs", nargs="*", help="image files and/or folders")
    p.add_argument("--sample", action="store_true",
                   help="upscale the low-resolution sample shipped with SSR (128x96, blur varying with depth)")
    p.add_argument("-o", "--output", required=True,
                   help="output file (one input) or folder (outputs keep the input names, as PNG unless --ext)")
    p.add_argument("--scale", type=int, default=4, choices=(2, 3, 4), help="output scale (default 4)")
    p.add_argument("--realism", type=float, default=None, metavar="R",
                   help="0 = the fidelity weights (faithful, PSNR-oriented) .. 1 = the perceptual weights (sharp, "
                        "natural texture), blended in between (default: the pipeline's choice)")
    p.add_argument("--fidelity", action="store_true",
                   help="the fidelity mode: --realism 0 and no diffusion stage")
    p.add_argument("--keep-bokeh", action="store_true",
                   help="depth-of-field mode (experimental): undo the camera's blur only and keep the scene's "
                        "defocus (the last round on the camera's kernel, then blurred again by the defocus the "
                        "estimated kernels show); as good as the kernels follow the blur")
    p.add_argument("--no-prior", action="store_true",
                   help="SVKR's last round with the light non-blind net instead of the pretrained-prior network")
    p.add_argument("--no-diffusion", action="store_true",
                   help="stop after SVKR (default when the pipeline has no diffusion weights)")
    p.add_argument("--steps", type=int, default=10, metavar="N", help="diffusion solver steps (default 10)")
    p.add_argument("--seed", type=int, default=0, help="diffusion noise seed (default 0; same seed, same image)")
    p.add_argument("--scheduler", default=None, choices=scheduler_names(),
                   help="diffusion solver (default: the weights' choice in pipeline.json; shipped: unipc)")
    p.add_argument("--color-fix", default="auto", choices=COLOR_FIXES,
                   help="colour correction against the SVKR result (auto: none in pixel mode, wavelet in latent mode)")
    p.add_argument("--strength", type=float, default=None,
                   help="scale of the diffusion residual, 0 = SVKR alone (default: the weights' tuned value)")
    p.add_argument("--start", type=float, default=None,
                   help="where sampling starts on the noise schedule, (0, 1]: 1 = pure noise, lower = closer to "
                        "SVKR's output (default: the weights' tuned value)")
    p.add_argument("--base", metavar="PATH",
                   help="Stable-Diffusion-style folder (unet/, vae/) for latent-mode diffusion weights")
    p.add_argument("--ensemble", action="store_true",
                   help="self-ensemble SVKR's last round over the 8 flips/rotations: a little more faithful "
                        "with --fidelity or --no-prior (about 5x slower); at the default realism it "
                        "averages the texture away")
    p.add_argument("--svkr-rounds", type=int, default=3, metavar="T", help="refinement rounds T (default 3)")
    p.add_argument("--tile", type=int, default=256, metavar="PX",
                   help="LR tile side, bounds memory (default 256; 0 = no tiling)")
    p.add_argument("--tile-overlap", type=int, default=32, metavar="PX", help="LR tile overlap (default 32)")
    p.add_argument("--weights", help="pipeline folder (default: the weights shipped with SSR)")
    p.add_argument("--depth-backend", help="depth estimator: builtin (default), constant, vertical, hf:PATH")
    p.add_argument("--save-depth", action="store_true", help="also write NAME_depth.png (colour-mapped)")
    p.add_argument("--save-kernels", action="store_true", help="also write NAME_kernels.png (kernel grid) and NAME_kernel_confidence.png "
                        "(bright: the picture shows its blur there; dark: flat, the kernel is a guess)")
    p.add_argument("--ext", default=".png", help="output extension for folder outputs (default .png)")
    p.add_argument("--resume", action="store_true", help="skip inputs whose output already exists")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    add_max_pixels(p)
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="network precision (default auto: bfloat16 on CPUs with native bfloat16 support, "
                        "about 2x faster there, float32 elsewhere)")
    p.set_defaults(func=run)


def _plan(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    if args.sample == bool(args.inputs):
        raise SSRError("give image files/folders or --sample (not both)")
    if args.sample:
        from ..assets import sample_lr_path

        args.inputs = [str(sample_lr_path())]
    files = list_images(args.inputs)
    out = Path(args.output)
    ext = args.ext if args.ext.startswith(".") else "." + args.ext
    if ext.lower() not in READ_EXTS:
        raise SSRError(f"unknown output extension {args.ext!r}")
    single_file = len(files) == 1 and len(args.inputs) == 1 and Path(args.inputs[0]).is_file()
    check_output_path(out, args.output, READ_EXTS, single_file)
    inputs = {f.resolve() for f in files}
    if single_file and out.suffix.lower() in READ_EXTS:
        if out.resolve() in inputs:
            raise SSRError(f"refusing to overwrite the input file {files[0]}; choose another output path")
        return [(files[0], out)]
    if out.suffix.lower() in READ_EXTS:
        raise SSRError(f"{len(files)} inputs need an output folder, not the file {out}")
    files = outside(files, out)  # an output folder inside an input folder: never read our own outputs
    if not files:
        raise SSRError(f"no inputs left outside the output folder {out}")
    pairs, seen = [], set()
    for f in files:
        dst = out / (f.stem + ext)
        if dst in seen:
            raise SSRError(f"two inputs would both write {dst}; upscale them into separate folders")
        if dst.resolve() in inputs:
            raise SSRError(f"{f} would be overwritten by its own output {dst}; choose another output folder")
        seen.add(dst)
        pairs.append((f, dst))
    return pairs


def run(args: argparse.Namespace) -> int:
    if args.svkr_rounds < 1:
        raise SSRError("--svkr-rounds must be at least 1")
    if args.steps < 1:
        raise SSRError("--steps must be at least 1")
    if args.tile != 0 and args.tile < MIN_TILE:
        raise SSRError(f"--tile must be 0 (no tiling) or at least {MIN_TILE} LR pixels, got {args.tile}")
    if args.tile_overlap < 0:
        raise SSRError(f"--tile-overlap must be >= 0, got {args.tile_overlap}")
    if args.tile and args.tile_overlap > args.tile // 2:
        raise SSRError(f"--tile-overlap {args.tile_overlap} is more than half the tile ({args.tile}); "
                       f"use at most {args.tile // 2} or a larger --tile")
    max_pixels = check_max_pixels(args)
    check_blend(args.strength, args.start)  # before any file is read or written
    check_realism(args.realism)
    if args.fidelity:
        if args.realism not in (None, 0.0):
            raise SSRError("--fidelity means --realism 0; give one of them")
        args.realism, args.no_diffusion = 0.0, True
    if args.no_prior and args.realism is not None:
        raise SSRError("--realism chooses between the prior-backed weights; it cannot go with --no-prior")
    pairs = _plan(args)
    inputs = Protected(p for p, _ in pairs)  # resolved once for every write of the batch
    todo = [(s, d) for s, d in pairs if not (args.resume and d.exists())]
    if not todo:
        print(f"nothing to do: all {len(pairs)} outputs exist")
        return 0
    n_todo = len(todo)
    ok = set(precheck([s for s, _ in todo], max_pixels, min_side=4))  # before the models load
    failures = n_todo - len(ok)
    todo = [(s, d) for s, d in todo if s in ok]
    if not todo:
        raise SSRError(f"{failures} of {n_todo} inputs failed (see above)")
    check_weights(args.weights)  # after the inputs: a bad picture is the error a batch reports first
    from tqdm.auto import tqdm

    from ..pipeline import SSRPipeline, realism_label, use_bf16  # torch and the models: only once the arguments and inputs passed

    meta = SSRPipeline.defaults(args.weights)
    strength = meta["strength"] if args.strength is None else args.strength
    # a residual scaled by 0 is never sampled: the diffusion stage (and diffusers) is not even loaded
    use_diffusion = meta["has_diffusion"] and not args.no_diffusion and strength != 0
    pipe = SSRPipeline.from_pretrained(args.weights, device=args.device, depth=args.depth_backend, base=args.base,
                                       load_diffusion=use_diffusion)
    prec = "bfloat16" if use_bf16(args.precision, pipe.device) else "float32"
    args.use_prior = pipe.has_prior and not args.no_prior
    if args.realism is not None and not pipe.has_prior:
        raise SSRError(f"--realism needs prior-backed weights; {args.weights or 'the shipped pipeline'} has none")
    if args.use_prior:
        r = pipe.realism if args.realism is None else args.realism
        print(f"last round: pretrained prior, {realism_label(r, pipe.priors.tilt)}")
    print(f"mode: SVKR + diffusion ({args.steps} {args.scheduler or pipe.scheduler} steps, seed {args.seed}, strength "
          f"{pipe.strength if args.strength is None else args.strength:g}, start "
          f"{pipe.start if args.start is None else args.start:g})" if use_diffusion
          else "mode: SVKR" + ("" if args.no_diffusion else " (diffusion off: strength 0)" if meta["has_diffusion"]
                               else " (no diffusion weights in the pipeline)"),
          f"on {pipe.device}, {prec}" + (", self-ensemble x8" if args.ensemble else "")
          + (", keeping the scene's defocus" if args.keep_bokeh else ""))
    bar = tqdm(todo, desc="upscale", unit="img", disable=len(todo) < 2)
    for src, dst in bar:
        try:
            _upscale_one(args, pipe, src, dst, inputs, use_diffusion, bar, max_pixels, single=n_todo == 1)
        except SSRError as exc:  # a bad picture in a batch: report it, go on with the others
            if n_todo == 1:
                raise
            bar.write(batch_error(src, exc), file=sys.stderr)
            failures += 1
    if failures:
        raise SSRError(f"{failures} of {n_todo} inputs failed (see above)")
    return 0


def upscale_file(pipe, src: Path, dst: Path, options: dict, protect=(), max_pixels: int | None = None,
                 depth_path: Path | None = None, kernels_path: Path | None = None, progress=None) -> tuple[int, int]:
    """Read ``src``, run ``pipe(**options)`` and write ``dst`` (keeping the input's alpha, bit
    depth and grayscale) and the maps asked for; the one path of ``ssr upscale`` and ``ssr serve``,
    so both write the same bytes. Returns the output's ``(width, height)``."""
    from ..viz import colorize

    import torch

    from ..io import _16BIT_EXTS

    protect = as_protected(protect)
    img = read_image(src, max_pixels)
    maps = depth_path is not None or kernels_path is not None
    # assembled straight into the bit depth it is written at: memory bounded by the tile
    dtype = torch.uint16 if img.bit_depth == 16 and dst.suffix.lower() in _16BIT_EXTS else torch.uint8
    res = pipe(img.rgb, return_maps=maps, progress=progress, output_dtype=dtype, **options)
    res.source = img
    res.save(dst, protect=protect)  # keeps the input's alpha, bit depth and grayscale
    sr = res.image[0]
    if depth_path is not None:
        write_image(depth_path, colorize(res.depth[0]), protect=protect)
    if kernels_path is not None:
        import torch.nn.functional as F

        write_image(kernels_path, pipe.kernel_picture(img.rgb, res.kernel_codes), protect=protect)
        write_image(kernels_path.with_name(kernels_path.stem.removesuffix("_kernels") + "_kernel_confidence.png"),
                    colorize(F.interpolate(res.kernel_confidence[:1], size=tuple(sr.shape[-2:]), mode="nearest")[0]),
                    protect=protect)
    return int(sr.shape[-1]), int(sr.shape[-2])


def pipeline_options(args: argparse.Namespace, use_diffusion: bool) -> dict:
    """The keyword arguments of :class:`ssr.pipeline.SSRPipeline` that the command's options set."""
    return dict(scale=args.scale, svkr_rounds=args.svkr_rounds, tile=args.tile or None, tile_overlap=args.tile_overlap,
                diffusion=use_diffusion, steps=args.steps, seed=args.seed, scheduler=args.scheduler,
                color_fix=args.color_fix, strength=args.strength, start=args.start, precision=args.precision,
                ensemble=args.ensemble, realism=args.realism, prior=args.use_prior, keep_bokeh=args.keep_bokeh)


def _upscale_one(args: argparse.Namespace, pipe, src: Path, dst: Path, inputs: Protected, use_diffusion: bool, bar,
                 max_pixels: int | None, single: bool) -> None:
    """One input of the command (a progress bar over its tiles when it is the only one)."""
    from tqdm.auto import tqdm

    t0 = time.time()
    tiles = tqdm(total=100, desc=src.name, unit="%", disable=not single, leave=False,
                 bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def progress(frac: float) -> None:
        tiles.update(round(100 * frac) - tiles.n)

    try:
        w, h = upscale_file(pipe, src, dst, pipeline_options(args, use_diffusion), protect=inputs,
                            max_pixels=max_pixels,
                            depth_path=dst.with_name(dst.stem + "_depth.png") if args.save_depth else None,
                            kernels_path=dst.with_name(dst.stem + "_kernels.png") if args.save_kernels else None,
                            progress=progress)
    finally:
        tiles.close()
    bar.write(f"wrote {dst} ({w}x{h}, {time.time() - t0:.1f} s)")
