"""Peak memory of ``ssr serve``: one picture, then several submitted at once (a benchmark).

Starts a fresh server per row (the shipped weights, CPU), submits N copies of a picture at the
same moment (as N browser tabs would), waits for all of them and reads the server process's
peak resident memory (``VmHWM`` of /proc). With one worker and a queue, N pictures at once
should peak about where one does (plus the queued uploads, on disk).

    python benchmarks/serve_memory.py [--size 256] [--jobs 1 2 4] [--weights DIR]
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import threading
import time
import urllib.request


def peak_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(n: int, data: bytes, weights: str | None) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "ssr", "serve", "--port", "0", "--device", "cpu"] + (["--weights", weights] if weights else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split(" on ", 1)[1].split()[0].rstrip("/")
    try:
        ids: list[str] = []

        def submit():
            req = urllib.request.Request(url + "/api/jobs?name=p.png", data=data, method="POST")
            ids.append(json.loads(urllib.request.urlopen(req).read())["id"])

        t0 = time.time()
        threads = [threading.Thread(target=submit) for _ in range(n)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        for jid in ids:
            while json.loads(urllib.request.urlopen(f"{url}/api/jobs/{jid}").read())["status"] not in ("done", "error"):
                time.sleep(0.2)
        return peak_mib(proc.pid), time.time() - t0
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="LR picture side (default 256)")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--weights")
    args = ap.parse_args()
    import torch
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    arr = (torch.rand(args.size, args.size, 3, generator=g) * 255).byte().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    print(f"| {args.size}x{args.size} pictures submitted at once | server peak RSS (MiB) | seconds for all |")
    print("|---:|---:|---:|")
    for n in args.jobs:
        peak, secs = run(n, buf.getvalue(), args.weights)
        print(f"| {n} | {peak:.0f} | {secs:.1f} |")


if __name__ == "__main__":
    main()
