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

A ``DIR`` ending in ``.md`` is a kernel table in Markdown, e.g. the committed one of an earlier
revision (``git show REV:docs/tables/kernels.md > runs/kernels_REV.md``) against the current:

    python research/kernel_cells.py before=runs/kernels_REV.md now=docs/tables/kernels.md
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from ssr.errors import SSRError, reports_errors

KEYS = (("width_corr_within", "width corr. within", 3), ("kernel_l1", "kernel L1", 4),
        ("resynth_psnr", "re-synthesis PSNR", 2), ("sr_psnr_y", "SR PSNR-Y (light)", 3),
        ("sr_prior_psnr_y", "prior SR PSNR-Y", 3))


# the columns of the Markdown table ``ssr bench --kernels`` writes (``kernels.md``), by header prefix
MD_COLUMNS = (("dataset", "dataset"), ("estimator", "estimator"), ("kernel L1", "kernel_l1"),
              ("LR re-synthesis PSNR", "resynth_psnr"), ("width corr. within", "width_corr_within"),
              ("SR PSNR-Y", "sr_psnr_y"), ("prior SR PSNR-Y", "sr_prior_psnr_y"))


def read_markdown(path: Path) -> list[dict]:
    """The rows of a kernel table in Markdown (``kernels.md``, or the committed
    ``docs/tables/kernels.md`` of any revision) as ``kernels.json`` would hold them."""
    text = path.read_text().splitlines()
    start = next((i for i, ln in enumerate(text) if ln.startswith("|")), len(text))
    end = next((i for i in range(start, len(text)) if not text[i].startswith("|")), len(text))
    lines = text[start:end]  # the first table
    if len(lines) < 3:
        raise SSRError(f"{path} holds no table")
    head = [h.strip() for h in lines[0].strip().strip("|").split("|")]
    cols = {}
    for prefix, key in MD_COLUMNS:
        hit = [i for i, h in enumerate(head) if h.startswith(prefix)]
        if not hit:
            raise SSRError(f"{path}: no column {prefix!r} (a table of `ssr bench --kernels`?)")
        cols[key] = hit[0]
    rows = []
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        rows.append({k: (cells[i] if k in ("dataset", "estimator") else _number(cells[i])) for k, i in cols.items()})
    return rows


def _number(text: str) -> float:
    """A table cell as a number: ``∞`` (the true kernels' re-synthesis) is infinite, a blank nan."""
    text = text.replace("∞", "inf")
    try:
        return float(text)
    except ValueError:
        return float("nan")


def read_cells(folders: list[Path], estimator: str = "svkr") -> dict[str, dict]:
    """``{dataset label: row}`` of ``estimator`` over the ``kernels.json`` of ``folders`` (a
    folder may also be a ``.md`` kernel table, read by :func:`read_markdown`)."""
    cells = {}
    for folder in folders:
        markdown = folder.suffix == ".md"
        path = folder if markdown else folder / "kernels.json"
        if not path.is_file():
            raise SSRError(f"{path} not found (an `ssr bench --kernels --out` folder or its kernels.md?)")
        for row in read_markdown(path) if markdown else json.loads(path.read_text()):
            if row["estimator"] == estimator:
                cells[row["dataset"]] = row
    return cells


@reports_errors
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=DIR[,DIR...][@ESTIMATOR]")
    ap.add_argument("--estimator", default="svkr", help="the rows to read where a label names none")
    args = ap.parse_args(argv)
    runs = {}
    for spec in args.runs:
        label, sep, dirs = spec.partition("=")
        if not sep or not dirs:
            raise SSRError(f"{spec!r}: expected LABEL=DIR[,DIR...]")
        dirs, _, estimator = dirs.partition("@")
        runs[label] = read_cells([Path(d) for d in dirs.split(",")], estimator or args.estimator)
    shared = sorted(set.intersection(*(set(c) for c in runs.values())))
    if not shared:
        raise SSRError("the runs share no cell")
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
