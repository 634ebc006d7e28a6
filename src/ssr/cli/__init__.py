"""The ``ssr`` command line: thin sub-commands over the library.

Every user error (bad file, bad option) ends with one ``error: ...`` line and exit status 2;
set ``SSR_DEBUG=1`` to see tracebacks.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .. import __version__
from ..errors import SSRError
from . import bench, degrade, depth, train, upscale

COMMANDS = [upscale, degrade, depth, train, bench]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssr",
        description="SSR: blind super-resolution with depth-informed, spatially variant kernels.",
    )
    parser.add_argument("--version", action="version", version=f"ssr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    debug = os.environ.get("SSR_DEBUG", "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except SSRError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; try a smaller --tile or a smaller image", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort, keeps the promise of no traceback dumps
        if debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (set SSR_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
