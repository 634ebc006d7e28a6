"""Regenerate the tables of the README and the docs: the one writer of ``docs/tables/``.

Every table the documents show between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``
is the file ``docs/tables/NAME.md``, written here by running the command registered for it in
:data:`TABLES` (the benchmarks of this folder and ``ssr bench``); after the runs the blocks are
spliced into the documents. ``tests/test_docs_tables.py`` checks that every block equals its
file and that every file has a registered command, so a figure in a block can only come from
its command.

    python benchmarks/tables.py                 # every table (hours on a 2-core CPU)
    python benchmarks/tables.py --only kernels bokeh
    python benchmarks/tables.py --splice-only   # copy docs/tables/*.md into the documents
    python benchmarks/tables.py --list          # names and commands

Run it from the repository root on an otherwise idle machine (the tables hold seconds too).
"""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE_DIR = ROOT / "docs" / "tables"
DOCUMENTS = ["README.md", "docs/*.md", "src/ssr/weights/MODEL_CARD.md", "src/ssr/weights/*/MODEL_CARD.md"]
BLOCK = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)
PY = sys.executable


@dataclass
class Table:
    """How one table is made: ``commands`` run in order from the repository root; the table is
    ``source`` (a file the last command writes, relative to the root) or, without one, the
    last command's standard output. ``pick`` keeps only the lines from the first line that starts
    with ``pick`` on (``True``: the first table row)."""

    commands: list[list[str]]
    source: str | None = None
    pick: bool | str = False


KERNEL_SETS = ["bsd100:noise-jpeg@builtin", "bsd100:no-noise", "bsd100:blur-only", "set14:noise-jpeg"]

#: the methods of the quality tables of the README and the model card (benchmarks/quality_tables.py)
EVAL_METHODS = ["bicubic", "realesrgan", "ssr-svkr", "ssr-fidelity", "ssr-fidelity-x8", "ssr-realism-0.25", "ssr-realism-0.5",
                "ssr", "ssr-realism-1", "ssr-diffusion-0.25", "ssr-prior-nocond", "ssr-prior-kernels", "ssr-prior-t1",
                "ssr-fidelity-nocond", "ssr-fidelity-kernels", "ssr-fidelity-t1", "ssr-svkr-t1", "ssr-svkr-nodepth"]
#: the validation pictures of the defaults (held out of the prior stage's training; never eval/)
VAL_DATA = "../shared/datasets/train/BSDS500-test:noise-jpeg"
VAL_METHODS = ["realesrgan", "ssr-svkr", "ssr-fidelity", "ssr-fidelity-x8", "ssr-realism-0.25", "ssr-realism-0.5", "ssr-realism-0.75",
               "ssr-realism-0.8", "ssr-realism-0.85", "ssr-realism-0.9", "ssr-realism-1", "ssr-diffusion-0.25"]
QUALITY = ["--metrics", "psnr", "ssim", "niqe", "--threads", "1", "--crops", "0", "--quiet"]
EVAL_BENCH = ["ssr", "bench", "--data", "realsr", "bsd100:noise-jpeg", "--methods", *EVAL_METHODS, *QUALITY,
              "--out", "runs/tables/prior_eval"]


def _quality(layout: str, bench: list[str]) -> "Table":
    """A table of benchmarks/quality_tables.py over the cells ``bench`` makes (reused between tables)."""
    return Table([bench, [PY, "benchmarks/quality_tables.py", layout, bench[-1]]])


TABLES: dict[str, Table] = {
    "memory": Table([[PY, "benchmarks/memory_bench.py", "--sizes", "256x256", "1024x1024", "--tiles", "0", "256", "128",
                      "--threads", "1", "--out", "docs/tables/memory.md", "--merge"],
                     [PY, "benchmarks/memory_bench.py", "--sizes", "3000x2000", "--tiles", "256", "128",
                      "--threads", "1", "--out", "docs/tables/memory.md", "--merge"]],
                    source="docs/tables/memory.md"),
    "kernels": Table([["ssr", "bench", "--kernels", "--data", *KERNEL_SETS, "--field", "depth", "smooth", "piecewise",
                       "radial", "--methods", "svkr", "mean-kernel", "best-single", "local-oracle", "true-kernels",
                       "--limit", "5", "--sr", "--threads", "1", "--quiet", "--out", "runs/tables/kernels"]],
                     source="runs/tables/kernels/kernels.md", pick=True),
    "bokeh": Table([[PY, "benchmarks/bokeh_bench.py", "--limit", "4", "--threads", "1", "--out", "runs/tables/bokeh.md",
                     "--picture", "docs/images/bokeh_crops.png"]], source="runs/tables/bokeh.md", pick=True),
    "sample-kernels": Table([[PY, "benchmarks/sample_kernels.py", "--threads", "1",
                              "--out", "docs/images/sample_kernels.png"]], pick=True),
    "bokeh-real": Table([[PY, "benchmarks/bokeh_real.py", "--limit", "8", "--threads", "1", "--out",
                          "runs/tables/bokeh_real.md", "--picture", "docs/images/bokeh_real_crops.png"]],
                        source="runs/tables/bokeh_real.md", pick=True),
    "degradation-speed": Table([[PY, "benchmarks/degradation_speed.py"]]),
    "depth-prior-blend": Table([[PY, "research/choose_prior_blend.py", "--blends", "0,0.05,0.1,0.15,0.2,0.3",
                                 "--threads", "1"]]),
    "depth-eval": Table([[PY, "benchmarks/depth_eval.py", "--threads", "1", "--runs", "5"]]),
    "peers": Table([["ssr", "bench", "--data", "realsr", *[f"bsd100:{p}" for p in ("no-noise", "no-jpeg", "noise-jpeg")],
                     "--methods", "bicubic", "realesrgan", "realsr-df2k", *QUALITY, "--out", "runs/tables/peers"]],
                   source="runs/tables/peers/results.md", pick="Command:"),
    "speed": Table([[PY, "benchmarks/pipeline_bench.py", "--threads", "2", "--runs", "3", "--skip-memory"]], pick=True),
    "prior-val": _quality("prior-val", ["ssr", "bench", "--data", VAL_DATA, "--limit", "22", "--methods", *VAL_METHODS,
                                        *QUALITY, "--out", "runs/tables/prior_val"]),
    "quality": _quality("quality", EVAL_BENCH),
    "prior-eval": _quality("prior-eval", EVAL_BENCH),
    "prior-ablation": _quality("prior-ablation", EVAL_BENCH),
    "svkr-light": _quality("svkr-light", EVAL_BENCH),
}


def _table_text(text: str, pick: bool | str) -> str:
    lines = text.strip().splitlines()
    if pick:
        start = "|" if pick is True else pick
        first = next((i for i, ln in enumerate(lines) if ln.startswith(start)), 0)
        lines = lines[first:]
    return "\n".join(lines).strip() + "\n"


def splittable(cmd: list[str]) -> bool:
    """Whether ``cmd`` is an ``ssr bench`` of stored cells (not ``--kernels``), which two
    processes can share: each cell is looked up when the run reaches it."""
    return cmd[:2] == ["ssr", "bench"] and "--kernels" not in cmd and "--out" in cmd


def reversed_bench(cmd: list[str]) -> list[str]:
    """``cmd`` with its ``--data`` and ``--methods`` lists in reverse order: run beside ``cmd``
    into the same ``--out``, it starts from the last cell and meets ``cmd`` in the middle."""
    out, i = [], 0
    while i < len(cmd):
        out.append(cmd[i])
        if cmd[i] in ("--data", "--methods"):
            j = i + 1
            while j < len(cmd) and not cmd[j].startswith("--"):
                j += 1
            out += cmd[i + 1:j][::-1]
            i = j
        else:
            i += 1
    return out


def _run(name: str, cmd: list[str], jobs: int) -> str:
    """Run one command of table ``name`` (an ``ssr bench`` of cells split over ``jobs`` processes:
    the second walks the cells in reverse order, then ``cmd`` runs once more over the stored
    cells so its reports hold every cell); its standard output."""
    helper = None
    # the helper's stderr goes to a file: a pipe nobody reads until the main run ends could fill and stall it
    with tempfile.TemporaryFile("w+") as helper_err:
        if jobs > 1 and splittable(cmd):
            rev = reversed_bench(cmd)
            print("$", shlex.join(rev), "&", flush=True)
            helper = subprocess.Popen(rev, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=helper_err, text=True)
        print("$", shlex.join(cmd), flush=True)
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if helper is not None:
            helper.communicate()
            helper_err.seek(0)
            err = helper_err.read()
    if helper is not None:
        if helper.returncode != 0:
            raise SystemExit(f"table {name}: `{shlex.join(helper.args)}` exited {helper.returncode}:\n{err[-2000:]}")
        if res.returncode == 0:  # the reports of a run that saw every cell stored
            res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"table {name}: `{shlex.join(cmd)}` exited {res.returncode}:\n{res.stderr[-2000:]}")
    return res.stdout


def generate(name: str, jobs: int = 1) -> Path:
    """Run the commands of table ``name`` and write ``docs/tables/NAME.md`` (``jobs`` 2: an
    ``ssr bench`` of cells in two processes, :func:`_run`)."""
    t = TABLES[name]
    out = ""
    for cmd in t.commands:
        out = _run(name, cmd, jobs)
    text = (ROOT / t.source).read_text() if t.source else out
    TABLE_DIR.mkdir(parents=True, exist_ok=True)
    dst = TABLE_DIR / f"{name}.md"
    dst.write_text(_table_text(text, t.pick))
    return dst


def documents() -> list[Path]:
    found: list[Path] = []
    for pattern in DOCUMENTS:
        found += sorted(ROOT.glob(pattern))
    return found


def blocks(text: str) -> list[tuple[str, str]]:
    """``(name, body)`` of every generated-table block of a document."""
    return [(m["name"], m["body"]) for m in BLOCK.finditer(text)]


def splice() -> list[Path]:
    """Copy every ``docs/tables/NAME.md`` into the blocks that show it; returns the changed documents."""
    changed = []
    for doc in documents():
        text = doc.read_text()

        def fill(m: re.Match) -> str:
            src = TABLE_DIR / f"{m['name']}.md"
            if not src.is_file():
                raise SystemExit(f"{doc.relative_to(ROOT)} shows table {m['name']!r}, which was never generated "
                                 f"(python benchmarks/tables.py --only {m['name']})")
            return m.group(1) + src.read_text() + m.group(4)

        new = BLOCK.sub(fill, text)
        if new != text:
            doc.write_text(new)
            changed.append(doc)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(TABLES), help="these tables only")
    ap.add_argument("--splice-only", action="store_true", help="run nothing; copy the table files into the documents")
    ap.add_argument("--list", action="store_true", help="print the tables and their commands")
    ap.add_argument("--jobs", type=int, choices=(1, 2), default=1,
                    help="2: each `ssr bench` of stored cells runs in two processes that walk the cells "
                         "from both ends (one thread each, as in the tables' commands)")
    args = ap.parse_args(argv)
    if args.list:
        for name, t in TABLES.items():
            print(f"{name}:\n" + "\n".join("  " + shlex.join(c) for c in t.commands))
        return 0
    if not args.splice_only:
        for name in args.only or TABLES:
            print(f"wrote {generate(name, args.jobs).relative_to(ROOT)}")
    for doc in splice():
        print(f"updated {doc.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
