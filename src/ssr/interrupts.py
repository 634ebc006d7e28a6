"""Interrupts that wait for a consistent state.

``ssr``'s command line installs :func:`handler` for SIGTERM and SIGINT: it raises
``KeyboardInterrupt`` at once (so a stopped batch cleans up like Ctrl-C), except inside a
:func:`critical` block of the main thread (an output file being created, written and renamed),
where the interrupt is held until the block ends. A signal landing between the creation of a
temporary file and the ``try`` that removes it would otherwise leave the temporary file behind.
Outside the command line (a library caller's own handlers) :func:`critical` changes nothing.
"""
from __future__ import annotations

import contextlib
import threading

_depth = 0
_pending = False


def handler(signum, frame) -> None:  # noqa: ARG001 - the signal module's signature
    """Raise ``KeyboardInterrupt`` now, or at the end of the current :func:`critical` block."""
    global _pending
    if _depth:
        _pending = True
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def critical():
    """Hold :func:`handler`'s interrupts until the block ends (main thread only; nestable)."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending:
            _pending = False
            raise KeyboardInterrupt
