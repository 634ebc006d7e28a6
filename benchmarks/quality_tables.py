"""The quality tables of the README and the model card, from the cells of ``ssr bench`` runs.

``ssr bench`` stores one cell per dataset x method (``OUT/cells/*.json``, per-image scores);
this script lays the mean PSNR-Y / SSIM / NIQE of those cells out as one of the documents'
tables and prints it (Markdown). A cell the layout needs but the folders lack is an error
(exit 1), so a table is never written with holes. ``benchmarks/tables.py`` registers each
layout with the ``ssr bench`` command that makes its cells.

    python benchmarks/quality_tables.py quality runs/tables/prior_eval     # README
    python benchmarks/quality_tables.py prior-eval runs/tables/prior_eval  # model card
    python benchmarks/quality_tables.py prior-ablation runs/tables/prior_eval
    python benchmarks/quality_tables.py prior-val runs/tables/prior_val
    python benchmarks/quality_tables.py svkr-light runs/tables/prior_eval   # docs/svkr.md
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from ssr.pipeline import realism_label

#: the shipped default's realism and layer-wise tilt (``pipeline.json``), named in the labels of the ``ssr`` rows
_PIPELINE = json.loads((Path(__file__).resolve().parents[1] / "src/ssr/weights/pipeline.json").read_text())
DEFAULT_REALISM = _PIPELINE["realism"]
DEFAULT_TILT = _PIPELINE.get("realism_tilt", 0)
DEFAULT_LABEL = realism_label(DEFAULT_REALISM, DEFAULT_TILT)

METRICS = ("psnr", "ssim", "niqe")
LOWER_IS_BETTER = {"niqe"}

#: dataset names as ``ssr bench`` stores them -> row / column labels
DATASETS = {
    "RealSR x4": "RealSR (100 real pairs)",
    "BSD100 x4 noise-jpeg": "BSD100 noise + JPEG (100)",
}

EVAL_ROWS = [
    ("bicubic", "bicubic"),
    ("realesrgan", "Real-ESRGAN x4plus (ncnn)"),
    ("ssr-svkr", "SVKR, light last round (`--no-prior`)"),
    ("ssr-fidelity", "`--fidelity` (realism 0)"),
    ("ssr-fidelity-x8", "`--fidelity --ensemble` (8 flips / rotations)"),
    ("ssr-realism-0.25", "realism 0.25"),
    ("ssr-realism-0.5", "realism 0.5"),
    ("ssr", f"default ({DEFAULT_LABEL}, `ssr`)"),
    ("ssr-realism-1", "realism 1"),
    ("ssr-diffusion-0.25", "default + diffusion at strength 0.25"),
]

#: (label, method of the default, method of ``--fidelity``); ``None``: not measured
ABLATION_ROWS = [
    ("pretrained trunk alone (Real-ESRGAN)", "realesrgan", "realesrgan"),
    ("adapted trunk, no kernels, no depth (T = 1)", "ssr-prior-nocond", "ssr-fidelity-nocond"),
    ("+ kernels (T = 1)", "ssr-prior-kernels", "ssr-fidelity-kernels"),
    ("+ kernels + depth (T = 1)", "ssr-prior-t1", "ssr-fidelity-t1"),
    ("full SVKR (T = 3)", "ssr", "ssr-fidelity"),
    ("+ diffusion (strength 0.25)", "ssr-diffusion-0.25", None),
]

VAL_ROWS = [
    ("realesrgan", "Real-ESRGAN x4plus (ncnn)"),
    ("ssr-svkr", "SVKR, light last round (`--no-prior`)"),
    ("ssr-fidelity", "realism 0 (`--fidelity`)"),
    ("ssr-fidelity-x8", "realism 0 with `--ensemble` (8 flips / rotations)"),
    ("ssr-realism-0.25", "realism 0.25"),
    ("ssr-realism-0.5", "realism 0.5"),
    ("ssr-realism-0.75", "realism 0.75"),
    ("ssr-realism-0.8", "realism 0.8"),
    ("ssr-realism-0.85", "realism 0.85"),
    ("ssr-realism-0.9", "realism 0.9"),
    ("ssr-realism-1", "realism 1"),
    ("ssr-diffusion-0.25", f"{DEFAULT_LABEL} (default) + diffusion at strength 0.25"),
]

QUALITY_COLUMNS = [("bicubic", "bicubic"), ("realesrgan", "Real-ESRGAN x4plus"), ("ssr-fidelity", "SSR `--fidelity`"),
                   ("ssr", f"SSR default ({DEFAULT_LABEL})"), ("ssr-realism-1", "SSR `--realism 1`")]


class MissingCell(LookupError):
    pass


def load_scores(folders: list[Path]) -> dict[tuple[str, str], dict[str, float]]:
    """``{(dataset, method): {metric: mean, "n": pictures}}`` over the cells of ``folders``
    (a later folder's cell replaces an earlier one's)."""
    scores = {}
    for folder in folders:
        cells = sorted((folder / "cells").glob("*.json"))
        if not cells:
            raise SystemExit(f"quality_tables: no ssr bench cells in {folder / 'cells'}")
        for path in cells:
            cell = json.loads(path.read_text())
            images = cell["images"]
            row = {"n": len(images)}
            for m in METRICS:
                vals = [im[m] for im in images if im.get(m) is not None]
                if vals:
                    row[m] = statistics.mean(vals)
            scores[(cell["dataset"], cell["method"])] = row
    return scores


class Table:
    """Looks cells up and formats ``PSNR / SSIM / NIQE`` triples, bold where best in a group."""

    def __init__(self, scores, ssim_digits: int):
        self.scores, self.ssim_digits = scores, ssim_digits

    def get(self, dataset: str, method: str) -> dict[str, float]:
        try:
            return self.scores[(dataset, method)]
        except KeyError:
            raise MissingCell(f"no cell for {method} on {dataset}") from None

    def fmt(self, metric: str, value: float, best: float | None = None) -> str:
        digits = {"psnr": 2, "ssim": self.ssim_digits, "niqe": 2}[metric]
        text = f"{value:.{digits}f}"
        return f"**{text}**" if best is not None and round(value, digits) == round(best, digits) else text

    def triple(self, row: dict[str, float], best: dict[str, float] | None = None) -> str:
        return " / ".join(self.fmt(m, row[m], (best or {}).get(m)) for m in METRICS)

    @staticmethod
    def best(rows: list[dict[str, float]]) -> dict[str, float]:
        return {m: (min if m in LOWER_IS_BETTER else max)(r[m] for r in rows) for m in METRICS}


def datasets_of(scores, wanted: list[str] | None = None) -> list[str]:
    have = list(dict.fromkeys(d for d, _ in scores))
    return [d for d in (wanted or list(DATASETS)) if d in have] or have


def quality(scores) -> list[str]:
    """README: one row per evaluation set, one column per mode (bold: best of the row per metric)."""
    t = Table(scores, 3)
    out = ["| x4, PSNR-Y / SSIM / NIQE | " + " | ".join(lab for _, lab in QUALITY_COLUMNS) + " |",
           "|---|" + "---|" * len(QUALITY_COLUMNS)]
    for d in datasets_of(scores):
        rows = [t.get(d, m) for m, _ in QUALITY_COLUMNS]
        best = t.best(rows)
        out.append(f"| {DATASETS.get(d, d)} | " + " | ".join(t.triple(r, best) for r in rows) + " |")
    return out


def prior_eval(scores) -> list[str]:
    """Model card: one row per method, one column per evaluation set (bold: best of the column)."""
    t = Table(scores, 4)
    ds = datasets_of(scores)
    out = ["| x4, PSNR-Y / SSIM / NIQE | " + " | ".join(DATASETS.get(d, d) for d in ds) + " |",
           "|---|" + "---|" * len(ds)]
    best = {d: t.best([t.get(d, m) for m, _ in EVAL_ROWS]) for d in ds}
    for m, label in EVAL_ROWS:
        out.append(f"| {label} | " + " | ".join(t.triple(t.get(d, m), best[d]) for d in ds) + " |")
    return out


def prior_ablation(scores) -> list[str]:
    """Model card: the ablation rows under the default and ``--fidelity`` on each set."""
    t = Table(scores, 4)
    ds = datasets_of(scores)
    short = {d: DATASETS.get(d, d).split(" (")[0] for d in ds}
    heads = [f"{short[d]}, {mode}" for d in ds for mode in ("default", "`--fidelity`")]
    out = ["| x4, PSNR-Y / SSIM / NIQE | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for label, default, fidelity in ABLATION_ROWS:
        cells = [t.triple(t.get(d, m)) if m else "" for d in ds for m in (default, fidelity)]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return out


def prior_val(scores) -> list[str]:
    """Model card: the validation pictures (one set), one row per setting, a column per metric."""
    t = Table(scores, 4)
    ds = datasets_of(scores, [])
    if len(ds) != 1:
        raise SystemExit(f"quality_tables prior-val: expected the cells of one set, got {ds}")
    d = ds[0]
    n = t.get(d, VAL_ROWS[0][0])["n"]
    out = [f"| validation ({n}), x4 noise-jpeg | PSNR-Y | SSIM | NIQE |", "|---|---:|---:|---:|"]
    for m, label in VAL_ROWS:
        r = t.get(d, m)
        out.append(f"| {label} | " + " | ".join(t.fmt(k, r[k]) for k in METRICS) + " |")
    return out


def svkr_light(scores) -> list[str]:
    """docs/svkr.md: the light loop (``--no-prior``) at T = 3, T = 1 and without depth, four digits."""
    t = Table(scores, 4)
    out = ["| x4, PSNR-Y / SSIM / NIQE | SVKR, T = 3 | SVKR, T = 1 | SVKR, DKENet without depth |",
           "|---|---|---|---|"]
    for d in datasets_of(scores):
        rows = [t.get(d, m) for m in ("ssr-svkr", "ssr-svkr-t1", "ssr-svkr-nodepth")]
        full = " / ".join(f"{rows[0][m]:.4f}" if m == "psnr" else t.fmt(m, rows[0][m]) for m in METRICS)
        out.append(f"| {DATASETS.get(d, d)} | {full} | {rows[1]['psnr']:.4f} | {rows[2]['psnr']:.4f} |")
    return out


LAYOUTS = {"quality": quality, "svkr-light": svkr_light, "prior-eval": prior_eval, "prior-ablation": prior_ablation, "prior-val": prior_val}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("layout", choices=sorted(LAYOUTS))
    ap.add_argument("folders", nargs="+", type=Path, help="--out folders of ssr bench runs")
    args = ap.parse_args(argv)
    scores = load_scores(args.folders)
    try:
        lines = LAYOUTS[args.layout](scores)
    except MissingCell as exc:
        print(f"quality_tables {args.layout}: {exc}; run the ssr bench command of benchmarks/tables.py first",
              file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
