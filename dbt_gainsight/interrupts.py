"""Ctrl-C and SIGTERM as a fact a run can look up, so no library can lose one.

The handler raises KeyboardInterrupt as Python's own does, but libraries catch it on the way
up: mashumaro wraps it while dbt's manifest loads, dbtRunner turns it into a failed result,
and DuckDB, when the signal lands inside a query, raises "Query interrupted" or now and then
drops it altogether (CI caught a sync that went on sending after such a Ctrl-C). So the
handler also notes the signal here and sets every registered cancel event: each run checks its
event between steps, and the Ctrl-C stops it even when the exception never arrives.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dbt_gainsight.errors import SyncInterrupted

_tripped = False
_cancels: set[threading.Event] = set()  # the cancel events of the runs in progress


def _on_signal(signum, frame) -> None:
    """Note the signal, set every run's cancel event, then raise KeyboardInterrupt."""
    trip()
    signal.default_int_handler(signum, frame)


def trip() -> None:
    """A Ctrl-C or SIGTERM arrived: every run in progress, and any that registers later, stops.

    No lock: this runs in the signal handler, which may interrupt the main thread inside
    :func:`cancels` (a set's add and a tuple of it are atomic under the GIL).
    """
    global _tripped
    _tripped = True
    for event in tuple(_cancels):
        event.set()


def tripped() -> bool:
    """Whether a Ctrl-C or SIGTERM arrived (in this process, or this ``handling_signals``)."""
    return _tripped


def stop_if_cancelled(cancel: threading.Event | None, why: str = "Interrupted.") -> None:
    """Raise SyncInterrupted once ``cancel`` is set: the check each step of a run makes."""
    if cancel is not None and cancel.is_set():
        raise SyncInterrupted(why)


def install() -> None:
    """Handle SIGINT and SIGTERM with :func:`_on_signal` (the console script, for the process).

    SIGTERM (a cancelled CI job, Airflow, Kubernetes) stops a run as Ctrl-C does: state
    flushed, leases released, run results written, exit 130.
    """
    _set_handlers()
    # A run that seems stuck: ``kill -USR1 <pid>`` prints every thread's stack to stderr.
    faulthandler.register(signal.SIGUSR1, all_threads=True)


def _set_handlers() -> None:
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def exit_130_on_ctrl_c(kind, value, traceback) -> None:
    """``sys.excepthook`` of the console script, from its first import (``__init__``).

    A Ctrl-C while Python loads dbt, requests and click comes before :func:`install`, and can
    surface wrapped (a class body's ``__set_name__`` turns it into a RuntimeError): either
    way it is one line and exit 130, not a traceback.
    """
    if _caused_by_ctrl_c(value):
        for stream, text in ((sys.stdout, ""), (sys.stderr, "Interrupted.\n")):
            try:
                stream.write(text)
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(130)
    sys.__excepthook__(kind, value, traceback)


def note_dropped_ctrl_c(unraisable) -> None:
    """``sys.unraisablehook`` of the console script: a dropped Ctrl-C is noted, not printed.

    Raised where Python cannot propagate it (a weakref callback of the import machinery), it
    would be printed as "Exception ignored" with a traceback, and lost; noted, the run stops.
    """
    if _caused_by_ctrl_c(unraisable.exc_value):
        trip()
        return
    sys.__unraisablehook__(unraisable)


def _caused_by_ctrl_c(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


@contextmanager
def handling_signals() -> Iterator[None]:
    """:func:`install`'s signal handlers for a block; then the previous ones, and no note.

    For a host that runs syncs in its own long-lived process (and for tests).
    """
    global _tripped
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _tripped = False
    _set_handlers()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _tripped = False


@contextmanager
def cancels(event: threading.Event) -> Iterator[threading.Event]:
    """Register a run's cancel event for the block: a signal sets it, even one already noted."""
    _cancels.add(event)
    try:
        if _tripped:
            event.set()
        yield event
    finally:
        _cancels.discard(event)
