"""Errors that SSR reports to users as one clear line (the CLI never dumps a traceback for them)."""


class SSRError(Exception):
    """A user-facing error: bad input, missing file, invalid option.

    The CLI prints ``error: <message>`` and exits with status 2.
    """


def batch_error(src, exc: Exception) -> str:
    """The ``error: ...`` line for one failed picture of a batch: the message, prefixed with the
    picture's path unless the message already names it."""
    from pathlib import Path

    msg = str(exc)
    return f"error: {msg}" if Path(src).name in msg else f"error: {src}: {msg}"


def reports_errors(main):
    """Decorator for a command-line ``main`` that returns an exit status: an :class:`SSRError`
    raised inside becomes one ``error: <message>`` line on stderr and status 2, as in ``ssr``
    (the research and benchmark scripts use it instead of a try block each)."""
    import functools
    import sys

    @functools.wraps(main)
    def run(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except SSRError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run
