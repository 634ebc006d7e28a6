"""Errors that SSR reports to users as one clear line (the CLI never dumps a traceback for them)."""


class SSRError(Exception):
    """A user-facing error: bad input, missing file, invalid option.

    The CLI prints ``error: <message>`` and exits with status 2.
    """
