"""Seconds the command line takes to refuse bad arguments and paths (target: under 1 s, before
any model loads). Each case runs in a fresh interpreter through the ``ssr`` console script, as a
user's shell would; ``tests/test_cli_errors.py`` checks the same cases exit 2 without torch.

    python benchmarks/cli_errors.py            # median of 3 runs per case
    python benchmarks/cli_errors.py --runs 5
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (what is wrong, arguments); ``{tmp}`` is an empty folder, nothing may appear in it
CASES: list[tuple[str, list[str]]] = [
    ("missing input", ["upscale", "{tmp}/missing.jpg", "-o", "{tmp}/out.png"]),
    ("input is not an image", ["upscale", str(ROOT / "README.md"), "-o", "{tmp}/out.png"]),
    ("output extension", ["upscale", "--sample", "-o", "{tmp}/out.gif"]),
    ("realism out of range", ["upscale", "--sample", "-o", "{tmp}/out.png", "--realism", "2"]),
    ("tile too small", ["upscale", "--sample", "-o", "{tmp}/out.png", "--tile", "3"]),
    ("weights folder missing", ["upscale", "--sample", "-o", "{tmp}/out.png", "--weights", "{tmp}/none"]),
    ("unknown option", ["upscale", "--sample", "-o", "{tmp}/out.png", "--bogus"]),
    ("missing -o", ["upscale", "--sample"]),
    ("degrade: missing input", ["degrade", "{tmp}/missing.jpg", "-o", "{tmp}/out.png"]),
    ("degrade: missing depth", ["degrade", "--sample", "--depth", "{tmp}/none.png", "-o", "{tmp}/out.png"]),
    ("degrade: negative seed", ["degrade", "--sample", "-o", "{tmp}/out.png", "--seed", "-1"]),
    ("depth: missing input", ["depth", "{tmp}/missing.jpg", "-o", "{tmp}/out.png"]),
    ("train: unknown stage", ["train", "nope"]),
    ("bench: unknown method", ["bench", "--data", "realsr", "--methods", "nope", "--out", "{tmp}/bench"]),
    ("serve: port out of range", ["serve", "--port", "70000"]),
]


def argv(case: list[str], tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in case]


def command() -> list[str]:
    exe = Path(sys.executable).with_name("ssr")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "ssr"]


def main(args: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per case (the median is shown)")
    opts = ap.parse_args(args)
    base = command()
    print(f"`{' '.join([Path(base[0]).name, *base[1:]])} ...`, median of {opts.runs} runs, fresh interpreter each\n")
    print("| case | exit | seconds | message |\n|---|---:|---:|---|")
    worst = 0.0
    for what, case in CASES:
        times, res = [], None
        for _ in range(opts.runs):
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                res = subprocess.run(base + argv(case, Path(tmp)), capture_output=True, text=True, cwd=ROOT)
                times.append(time.perf_counter() - t)
                left = list(Path(tmp).iterdir())
        msg = (res.stderr.strip().splitlines() or [""])[-1][:70].replace("|", "/")
        if left:
            msg = f"WROTE {left}"
        worst = max(worst, statistics.median(times))
        print(f"| {what} | {res.returncode} | {statistics.median(times):.2f} | {msg} |")
    print(f"\nslowest case: {worst:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
