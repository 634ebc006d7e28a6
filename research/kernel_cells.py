"""Side-by-side summary of ``ssr bench --kernels`` results for several estimators (choosing a DKENet).

Each argument is ``LABEL=DIR[,DIR...]``: the output folders (``--out``) of ``ssr bench --kernels``
runs of one pipeline, e.g. one per dataset spec. For the ``svkr`` rows, prints per cell (dataset x
field) the within-picture width correlation of every label, then per label the means over the
cells all labels share: width correlation, kernel L1, re-synthesis PSNR, SR PSNR-Y of the light
and the prior-backed last round, and in how many cells the correlation beats the first label's.

    python research/kernel_cells.py shipped=runs/v22_shipped,runs/v22b_shipped cand=runs/v22_cand,runs/v22b_cand

``LABEL=DIR[,DIR...]@ESTIMATOR`` takes another estimator's rows for that label (default
``--estimator``), e.g. SVKR against the local oracle of the kernel table:

    python research/kernel_cells.py oracle=runs/tables/kernels@local-oracle svkr=runs/tables/kernels
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

KEYS = (("width_corr_within", "width corr. within", 3), ("kernel_l1", "kernel L1", 4),
        ("resynth_psnr", "re-synthesis PSNR", 2), ("sr_psnr_y", "SR PSNR-Y (light)", 3),
        ("sr_prior_psnr_y", "prior SR PSNR-Y", 3))


def read_cells(folders: list[Path], estimator: str = "svkr") -> dict[str, dict]:
    """``{dataset label: row}`` of ``estimator`` over the ``kernels.json`` of ``folders``."""
    cells = {}
    for folder in folders:
        path = folder / "kernels.json"
        if not path.is_file():
            raise SystemExit(f"error: {path} not found (an `ssr bench --kernels --out` folder?)")
        for row in json.loads(path.read_text()):
            if row["estimator"] == estimator:
                cells[row["dataset"]] = row
    return cells


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=DIR[,DIR...][@ESTIMATOR]")
    ap.add_argument("--estimator", default="svkr", help="the rows to read where a label names none")
    args = ap.parse_args(argv)
    runs = {}
    for spec in args.runs:
        label, sep, dirs = spec.partition("=")
        if not sep or not dirs:
            print(f"error: {spec!r}: expected LABEL=DIR[,DIR...]", file=sys.stderr)
            return 2
        dirs, _, estimator = dirs.partition("@")
        runs[label] = read_cells([Path(d) for d in dirs.split(",")], estimator or args.estimator)
    shared = sorted(set.intersection(*(set(c) for c in runs.values())))
    if not shared:
        print("error: the runs share no cell", file=sys.stderr)
        return 2
    labels = list(runs)
    print("| cell | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for cell in shared:
        print(f"| {cell} | " + " | ".join(f"{runs[lb][cell]['width_corr_within']:.2f}" for lb in labels) + " |")
    print(f"\nmeans over {len(shared)} cells:\n")
    print("| estimator | " + " | ".join(name for _, name, _ in KEYS) + " | cells with higher corr. than " + labels[0] + " |")
    print("|---|" + "---:|" * (len(KEYS) + 1))
    base = runs[labels[0]]
    for lb in labels:
        c = runs[lb]
        means = [f"{statistics.fmean(c[x][key] for x in shared):.{nd}f}" for key, _, nd in KEYS]
        up = sum(c[x]["width_corr_within"] > base[x]["width_corr_within"] for x in shared)
        print(f"| {lb} | " + " | ".join(means) + f" | {up} / {len(shared)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
