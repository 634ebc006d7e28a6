"""Peak resident memory and seconds of ``ssr upscale`` by input size and tile (a benchmark).

Each row is one fresh ``ssr upscale`` process (default pipeline, x4, CPU) on a picture made
from the shipped sample (resized to the size, so it has photographic content); its peak
resident memory is the child's ``ru_maxrss`` (``os.wait4``), its time the wall clock of the
whole command (model loading included). The limit column is issue 18's bound, 1.5 GB plus
3 bytes per output pixel; ``x untiled`` is the row's time over the untiled row of its size
(tile 0), where that one ran.

    python benchmarks/memory_bench.py [--sizes 256x256 1024x1024 3000x2000] [--tiles 0 128 256]
        [--threads 2] [--skip-untiled-above 2000000] [--out runs/memory_bench.md] [--merge]

``--merge`` keeps the rows of an existing ``--out`` table for the (input, tile) pairs this run
does not measure, so a table can be completed over several runs (each row is one process).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GB = 1e9


def make_input(path: Path, w: int, h: int) -> None:
    from PIL import Image

    from ssr.assets import sample_image_path

    with Image.open(sample_image_path()) as im:
        im.convert("RGB").resize((w, h), Image.BICUBIC).save(path)


def run(inp: Path, out: Path, tile: int, threads: int, extra: list[str]) -> tuple[float, float, int]:
    """``(peak bytes, seconds, exit status)`` of one ``ssr upscale`` process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "ssr", "upscale", str(inp), "-o", str(out), "--tile", str(tile),
           *extra]
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.time() - t0
    err = proc.stderr.read().decode(errors="replace").strip().splitlines()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"  exit {code}: {err[-1] if err else ''}", file=sys.stderr)
    return usage.ru_maxrss * 1024.0, secs, code


def _key(row: str) -> tuple[int, int, int]:
    """Sort key of a table row: input pixels, then tile (untiled first)."""
    cells = [c.strip() for c in row.strip("|").split("|")]
    w, h = (int(v) for v in cells[0].split("x"))
    return (w * h, w, 0 if cells[2] == "none" else int(cells[2]))


def merge_rows(old: list[str], new: list[str]) -> list[str]:
    """Header of ``new``, its rows, and the rows of ``old`` for (input, tile) pairs ``new`` lacks,
    ordered by input size and tile."""
    head, fresh = new[:2], [r for r in new[2:] if r.startswith("|")]
    have = {_key(r) for r in fresh}
    kept = [r for r in old[2:] if r.startswith("| ") and r[2].isdigit() and _key(r) not in have]
    return head + sorted(fresh + kept, key=_key)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["256x256", "1024x1024", "3000x2000"], help="WxH inputs")
    ap.add_argument("--tiles", nargs="+", type=int, default=[0, 128, 256], help="LR tiles (0: untiled)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-untiled-above", type=int, default=2_000_000, metavar="PX",
                    help="do not run tile 0 on inputs with more pixels (it cannot be bounded)")
    ap.add_argument("--out", default=None, help="also write the table to this Markdown file")
    ap.add_argument("--merge", action="store_true", help="keep --out's rows for pairs not measured here")
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more ssr upscale options")
    args = ap.parse_args(argv)
    extra = [a for a in args.extra if a != "--"]
    rows = ["| input | output px | tile | peak RSS (GB) | limit (GB) | within | seconds | x untiled |",
            "|---|---:|---:|---:|---:|---|---:|---:|"]
    print("\n".join(rows), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            w, h = (int(v) for v in size.lower().split("x"))
            inp = Path(tmp) / f"in_{w}x{h}.png"
            make_input(inp, w, h)
            out_px = 16 * w * h
            limit = 1.5 * GB + 3 * out_px
            untiled = None
            for tile in args.tiles:
                if tile == 0 and w * h > args.skip_untiled_above:
                    line = f"| {w}x{h} | {out_px:,} | none | not run | {limit / GB:.2f} | | | |"
                else:
                    peak, secs, code = run(inp, Path(tmp) / "out.png", tile, args.threads, extra)
                    if code != 0:
                        line = f"| {w}x{h} | {out_px:,} | {tile or 'none'} | failed (exit {code}) | {limit / GB:.2f} | no | {secs:.1f} | |"
                    else:
                        untiled = secs if tile == 0 else untiled
                        ratio = f"{secs / untiled:.2f}" if untiled and tile else ""
                        line = (f"| {w}x{h} | {out_px:,} | {tile or 'none'} | {peak / GB:.2f} | {limit / GB:.2f} | "
                                f"{'yes' if peak <= limit else 'no'} | {secs:.1f} | {ratio} |")
                rows.append(line)
                print(line, flush=True)
    if args.out:
        out = Path(args.out)
        if args.merge and out.is_file():
            rows = merge_rows(out.read_text().splitlines(), rows)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
