"""``ssr serve``: a local web page for SSR (before/after slider, depth and kernel maps)."""
from __future__ import annotations

import argparse

from ..errors import SSRError
from .common import add_max_pixels, check_max_pixels, check_weights


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="a local web page to upscale pictures (before/after, depth, kernels)",
                       description="Serve SSR on a local web page: upload pictures, compare before and after at "
                                   "full resolution, look at the estimated depth and blur kernels, download the "
                                   "results. One model serves every tab through a queue; nothing is sent anywhere.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 = any free port)")
    p.add_argument("--weights", help="pipeline folder (default: the weights shipped with SSR)")
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--max-upload-mib", type=int, default=64, metavar="MIB", help="largest upload (default 64 MiB)")
    add_max_pixels(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise SSRError(f"--port must lie in 0..65535, got {args.port}")
    if args.max_upload_mib < 1:
        raise SSRError("--max-upload-mib must be at least 1")
    max_pixels = check_max_pixels(args)
    check_weights(args.weights)
    from ..pipeline import SSRPipeline
    from ..serve import serve

    # the page has no strength control: at the pipeline's strength 0 its diffusion stage is never loaded
    pipe = SSRPipeline.from_pretrained(args.weights, device=args.device)
    try:
        serve(pipe, args.host, args.port, max_pixels, args.max_upload_mib * 2**20,
              ready=lambda url: print(f"serving SSR on {url} (Ctrl-C to stop)", flush=True))
    except OSError as exc:
        raise SSRError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        print("stopped")
    return 0
