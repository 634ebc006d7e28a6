"""The ``ssr`` command line: thin sub-commands over the library.

Every user error (bad file, bad option) ends with one ``error: ...`` line and exit status 2;
set ``SSR_DEBUG=1`` to see tracebacks.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from typing import Sequence

from .. import __version__, interrupts
from ..errors import SSRError
from ..heap import fixed_mmap_threshold  # noqa: F401  (re-exported: the CLI pins it in main)
from . import bench, degrade, depth, serve, train, upscale

COMMANDS = [upscale, degrade, depth, train, bench, serve]


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
    import signal

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if extra:  # the sub-command's usage, not the top-level one
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    debug = os.environ.get("SSR_DEBUG", "") not in ("", "0")
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 are printed, not fatal
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, io.UnsupportedOperation):
            pass
    fixed_mmap_threshold()
    # SIGTERM ends a run like Ctrl-C, and both wait for the file being written to be whole or gone
    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, interrupts.handler)
    except ValueError:  # not the main thread (a library caller): leave signals alone
        pass
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
    finally:
        for sig, old in previous.items():
            if old is not None:  # None: a handler not installed from Python, left as it was
                signal.signal(sig, old)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
