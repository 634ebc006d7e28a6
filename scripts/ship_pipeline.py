"""Assemble trained stage outputs into a pipeline folder (by default the shipped weights).

    python scripts/ship_pipeline.py --dkenet runs/dkenet_cpu/final --nonblind runs/nonblind_cpu/final \
        [--dkenet-nodepth runs/dkenet_nodepth_cpu/final] [--depth runs/depth_cpu/final] \
        [--diffusion runs/amf_cpu/final [--strength S] [--start T] [--scheduler NAME]] \
        [--prior-fidelity runs/prior_fid/final] [--prior-perceptual runs/prior_perc/final] [--realism R] \
        [--out src/ssr/weights]

Each input is a folder written by ``ssr train`` (``config.json`` + ``model.safetensors``). The
training metadata each stage stored (data, steps, command) travels inside its ``config.json``,
so the model card can be written from the shipped files alone. Without ``--depth`` the depth
network already in ``--out`` (or the package's) is kept, and so is the no-depth DKENet without
``--dkenet-nodepth``, and the prior-backed sets (``prior/fidelity``, ``prior/perceptual``: PriorSR
deltas on a pretrained generator) without ``--prior-*``; ``--realism`` is their default blend
(0 = fidelity, 1 = perceptual; default: keep the current one, else 1). ``--strength`` (the default scale of the diffusion residual), ``--scheduler``
(the default solver) and ``--start`` (where sampling starts on the noise schedule) are stored in
``pipeline.json`` (tune them for the weights:
docs/diffusion.md).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ssr.depth import get_depth_estimator
from ssr.diffusion import scheduler_names
from ssr.models.base import SSRModel
from ssr.pipeline import DEFAULT_DIR, SSRPipeline
from ssr.svkr import SVKR


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dkenet", required=True)
    ap.add_argument("--nonblind", required=True)
    ap.add_argument("--dkenet-nodepth", help="the DKENet trained without depth (the no-depth ablation of ssr bench)")
    ap.add_argument("--depth", help="a trained built-in depth network folder (default: keep the current one)")
    ap.add_argument("--diffusion", help="a trained diffusion stage folder (ssr train amf ... /final)")
    ap.add_argument("--strength", type=float, default=1.0, help="default diffusion residual scale (default 1)")
    ap.add_argument("--start", type=float, default=1.0, help="default start of sampling on the noise schedule (default 1)")
    ap.add_argument("--scheduler", default="dpm++", choices=scheduler_names(),
                    help="default diffusion solver (default dpm++)")
    ap.add_argument("--prior-fidelity", help="a trained PriorSR folder for realism 0 (ssr train prior ... /final)")
    ap.add_argument("--prior-perceptual", help="a trained PriorSR folder for realism 1")
    ap.add_argument("--realism", type=float, help="default realism in [0, 1] (default: the current one, else 1)")
    ap.add_argument("--realism-tilt", type=float,
                    help="layer-wise realism of the blend (pipeline.json realism_tilt; default: the current one, else 0)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--out", default=str(DEFAULT_DIR))
    args = ap.parse_args(argv)

    out = Path(args.out)
    depth_dir = Path(args.depth) if args.depth else (out / "depth" if (out / "depth" / "config.json").is_file()
                                                      else DEFAULT_DIR / "depth")
    staging = out.with_name(out.name + ".tmp")
    if staging.exists():
        shutil.rmtree(staging)
    depth = get_depth_estimator(str(depth_dir), device="cpu")
    svkr = SVKR(SSRModel.from_pretrained(args.dkenet, device="cpu"), SSRModel.from_pretrained(args.nonblind, device="cpu"),
                depth, rounds=args.rounds, momentum=args.momentum)
    diffusion = SSRModel.from_pretrained(args.diffusion, device="cpu") if args.diffusion else None
    priors = {}
    for name, given in (("fidelity", args.prior_fidelity), ("perceptual", args.prior_perceptual)):
        kept_prior = out / "prior" / name
        src = Path(given) if given else (kept_prior if (kept_prior / "config.json").is_file() else None)
        if src is not None:
            if type(SSRModel.from_pretrained(src)).__name__ != "PriorSR":
                raise SystemExit(f"ship_pipeline: {src} does not hold a PriorSR")
            priors[name] = src
    old = out / "pipeline.json"
    current = json.loads(old.read_text()) if old.is_file() else {}
    realism = float(current.get("realism", 1.0)) if args.realism is None else args.realism
    tilt = float(current.get("realism_tilt", 0.0)) if args.realism_tilt is None else args.realism_tilt
    SSRPipeline(svkr, depth_spec="builtin", diffusion=diffusion, strength=args.strength, start=args.start,
                scheduler=args.scheduler, priors=priors, realism=realism, realism_tilt=tilt).save_pretrained(staging)
    for name in priors:  # the prior sets' own cards travel with them
        card = priors[name] / "MODEL_CARD.md"
        if card.is_file():
            shutil.copy2(card, staging / "prior" / name / card.name)
    kept = out / "svkr" / "dkenet_nodepth"
    nodepth_dir = args.dkenet_nodepth or (kept if (kept / "config.json").is_file() else None)
    if nodepth_dir:
        nodepth = SSRModel.from_pretrained(nodepth_dir, device="cpu")
        nodepth.save_pretrained(staging / "svkr" / "dkenet_nodepth", extra=getattr(nodepth, "pretrained_extra", None))
    # model cards stay with the weights they describe (the depth card may come with --depth)
    for card, dst in ((depth_dir / "MODEL_CARD.md", "depth"), (out / "depth" / "MODEL_CARD.md", "depth"),
                      (out / "MODEL_CARD.md", ".")):
        if card.is_file() and not (staging / dst / card.name).exists():
            shutil.copy2(card, staging / dst / card.name)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"{p.stat().st_size / 2**20:7.2f} MiB  {p.relative_to(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
