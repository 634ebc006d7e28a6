"""Interrupts that wait for a consistent state.

``ssr``'s command line installs :func:`handler` for SIGTERM and SIGINT: it raises
``KeyboardInterrupt`` at once (so a stopped batch cleans up like Ctrl-C), except inside a
:func:`critical` block of the main thread (an output file being created, written and renamed),
where the interrupt is held until the block ends. A signal landing between the creation of a
temporary file and the ``try`` that removes it would otherwise leave the temporary file behind.
Inside a critical block, :func:`interruptible` opens a window where interrupts arrive at once
again, for long work whose cleanup is already armed (encoding a large picture into its
temporary file), so Ctrl-C does not wait for it. Outside the command line (a library caller's
own handlers) neither changes anything.
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
    outer = _depth
    _depth = outer + 1
    try:
        yield
    finally:
        _depth = outer  # restored, not decremented: an interrupt may have cut an inner block short
        if outer == 0 and _pending:
            _pending = False
            raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible():
    """Inside :func:`critical`: let interrupts through during this block (one held so far is
    raised on entry). Use it only where the caller's cleanup is already armed."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = _depth
    _depth = 0
    try:
        if _pending:
            _pending = False
            raise KeyboardInterrupt
        yield
    finally:
        _depth = held
