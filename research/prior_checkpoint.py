"""A pipeline folder whose prior-backed sets come from ``ssr train prior`` checkpoints (a probe).

Everything else of the pipeline (SVKR, depth, diffusion, ``pipeline.json``) is linked from the
shipped weights, so ``ssr bench --weights OUT`` scores a checkpoint exactly where the shipped set
would run (SVKR's last round), before anything is exported or shipped. The generator is taken
from the checkpoint's EMA, as the trainer's export does. An exported set (a folder with
``model.safetensors`` and ``config.json``, e.g. a candidate of research/candidates/) is linked as it
is, so bench cells keyed by its bytes are the ones the shipped copy will reuse; ``--realism`` sets
the folder's default realism (``pipeline.json``); ``--dkenet`` links a DKENet weights folder as
``svkr/dkenet`` (a candidate estimator scored in the whole loop).

    python research/prior_checkpoint.py runs/pipe_c400 --fidelity runs/prior_fid_cond/checkpoints/step_00000400
    ssr bench --kernels --sr --data ../shared/datasets/train/BSDS500-test:blur-only --limit 10 \\
        --field piecewise smooth --methods mean-kernel svkr true-kernels --weights runs/pipe_c400 --threads 1 --out runs/kb_c400
    ssr bench --data ../shared/datasets/train/BSDS500-test:noise-jpeg --limit 22 --methods ssr-fidelity \\
        ssr-fidelity-nocond --weights runs/pipe_c400 --metrics psnr ssim --threads 1 --out runs/val_c400
    python research/prior_checkpoint.py runs/pipe_frozen --fidelity runs/prior_kmix_frozen/final --realism 0.9
    python research/prior_checkpoint.py runs/pipe_dkedges --dkenet research/candidates/dkenet_edges
    python research/prior_checkpoint.py runs/pipe_tilt --realism 0.85 --realism-tilt 3   # a realism schedule
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ssr.errors import reports_errors
from ssr.pipeline import DEFAULT_DIR as SHIPPED


def build(out: Path, checkpoints: dict[str, Path], base: Path = SHIPPED, realism: float | None = None,
          dkenet: Path | None = None, tilt: float | None = None) -> Path:
    """Write ``out``: links to the pipeline folder ``base`` (default: the shipped weights), with
    ``prior/<name>`` from ``checkpoints[name]`` (a checkpoint: ``base``'s set gives the architecture;
    an exported set: linked), with ``realism`` / ``tilt`` ``pipeline.json`` at that default realism /
    ``realism_tilt``, and with ``dkenet`` (a DKENet weights folder) ``svkr/dkenet`` linked to it."""
    import json

    from safetensors.torch import load_file

    from ssr.errors import SSRError
    from ssr.models.base import SSRModel

    for name, ck in checkpoints.items():
        if not (ck / "ema.safetensors").is_file() and not _exported(ck):
            raise SSRError(f"{ck}: no ema.safetensors (a checkpoint folder of `ssr train prior`?) "
                           "nor model.safetensors + config.json (an exported set)")
    if dkenet is not None and SSRModel.saved_meta(dkenet).get("class") != "DKENet":
        raise SSRError(f"{dkenet}: not a DKENet weights folder")
    if out.exists():
        shutil.rmtree(out)
    (out / "prior").mkdir(parents=True)
    settings = {k: float(v) for k, v in (("realism", realism), ("realism_tilt", tilt)) if v is not None}
    own = {"prior"} | ({"pipeline.json"} if settings else set()) | ({"svkr"} if dkenet is not None else set())
    for item in base.iterdir():
        if item.name not in own and not item.name.startswith("__"):
            (out / item.name).symlink_to(item.resolve())
    if dkenet is not None:
        (out / "svkr").mkdir()
        for item in (base / "svkr").iterdir():
            (out / "svkr" / item.name).symlink_to((dkenet if item.name == "dkenet" else item).resolve())
    if settings:
        kept = json.loads((base / "pipeline.json").read_text())
        (out / "pipeline.json").write_text(json.dumps({**kept, **settings}, indent=2) + "\n")
    for name in ("fidelity", "perceptual"):
        if name not in checkpoints or _exported(checkpoints[name]):
            (out / "prior" / name).symlink_to(checkpoints.get(name, base / "prior" / name).resolve())
            continue
        gen = SSRModel.from_pretrained(base / "prior" / name)  # the architecture and the PCA
        ema = load_file(str(checkpoints[name] / "ema.safetensors"))
        trained = {k.removeprefix("generator."): v for k, v in ema.items() if k.startswith("generator.")}
        own = gen.state_dict()
        missing = sorted(k for k in own if k not in trained)
        if missing:
            raise SSRError(f"{checkpoints[name]}: the checkpoint lacks {len(missing)} tensors of the set, e.g. {missing[0]}")
        gen.load_state_dict({k: trained[k].to(own[k].dtype) for k in own})
        gen.save_pretrained(out / "prior" / name, extra={"from_checkpoint": str(checkpoints[name])})
    return out


def _exported(folder: Path) -> bool:
    """Whether ``folder`` is an exported set (``model.safetensors`` + ``config.json``), not a checkpoint."""
    return (folder / "model.safetensors").is_file() and (folder / "config.json").is_file() \
        and not (folder / "ema.safetensors").is_file()


@reports_errors
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="the pipeline folder to write (replaced if it exists)")
    ap.add_argument("--fidelity", type=Path, metavar="CKPT", help="checkpoint folder (or exported set) for prior/fidelity")
    ap.add_argument("--perceptual", type=Path, metavar="CKPT", help="checkpoint folder (or exported set) for prior/perceptual")
    ap.add_argument("--realism", type=float, help="the folder's default realism (pipeline.json; default the base's)")
    ap.add_argument("--realism-tilt", type=float, help="the folder's layer-wise realism (pipeline.json realism_tilt)")
    ap.add_argument("--dkenet", type=Path, metavar="DIR", help="DKENet weights folder for svkr/dkenet")
    args = ap.parse_args(argv)
    cks = {n: p for n, p in (("fidelity", args.fidelity), ("perceptual", args.perceptual)) if p is not None}
    if not cks and args.dkenet is None and args.realism is None and args.realism_tilt is None:
        print("error: give --fidelity, --perceptual, --dkenet, --realism and/or --realism-tilt", file=sys.stderr)
        return 2
    print(f"wrote {build(args.out, cks, realism=args.realism, dkenet=args.dkenet, tilt=args.realism_tilt)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
