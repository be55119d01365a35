"""Socket waits of the listener engine: the only place it blocks, and always interruptibly.

The engine drives psycopg2 *asynchronous* connections (psycopg2 docs, "Asynchronous support": ``conn.poll()``
answers ``POLL_OK``/``POLL_READ``/``POLL_WRITE``, the caller waits on ``conn.fileno()``); this module does the
waiting, like psycopg's ``waiting.py`` next to its pure ``generators.py``. Every wait also watches a
:class:`Waker` (a socket pair), so another thread can interrupt it at once, and has a deadline.

Which thread: :class:`Waker` ``wake()`` from any thread; everything else from the one worker thread that owns the
connection. The caller closes the :class:`Waker` once no thread waits on it (the engine: when its worker ends).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

import psycopg2.extensions


class Interrupted(Exception):
    """The wait was cut short because ``interrupted()`` said so (stop or reconnect requested)."""


class WaitTimeout(Exception):
    """The connection did not become ready within the deadline. ``str()``: a short English sentence."""


class Waker:
    """A socket pair: :meth:`wake` (any thread) makes the next or current :func:`wait_fds` return."""

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._lock = threading.Lock()
        self._closed = False

    def fileno(self) -> int:
        """The readable end, for ``select``."""
        return self._r.fileno()

    def wake(self) -> None:
        """Interrupt the waiter. Any thread; harmless after :meth:`close`."""
        with self._lock:
            if not self._closed:
                with contextlib.suppress(OSError):  # buffer full: a wake-up is pending anyway
                    self._w.send(b"x")

    def drain(self) -> None:
        """Consume pending wake-ups (worker thread)."""
        with contextlib.suppress(OSError):
            while self._r.recv(4096):
                pass

    def close(self) -> None:
        """Close both sockets (idempotent). Call when no thread waits on it any more."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._r.close()
        self._w.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed


def wait_fds(rlist: list[Any], wlist: list[Any], timeout_s: float, waker: Waker) -> bool:
    """``select()`` on ``rlist``/``wlist`` (objects with ``fileno()``) plus ``waker`` for up to ``timeout_s``
    seconds. Returns True if one of the caller's objects is ready (a wake-up is drained and gives False)."""
    r, w, _ = select.select([*rlist, waker], wlist, [], max(0.0, timeout_s))
    if waker in r:
        waker.drain()
    return bool([x for x in r if x is not waker] or w)


def drive(
    conn: psycopg2.extensions.connection,
    timeout_s: float,
    *,
    waker: Waker,
    clock: Callable[[], float],
    interrupted: Callable[[], bool],
) -> None:
    """Poll an asynchronous connection (connecting, or running a query) until ``POLL_OK``.

    Raises :class:`Interrupted` as soon as ``interrupted()`` is true (checked before every wait),
    :class:`WaitTimeout` after ``timeout_s`` seconds of ``clock``, and whatever ``conn.poll()`` raises
    (``psycopg2.Error``: the server's error, a lost connection).
    """
    deadline = clock() + timeout_s
    while True:
        if interrupted():
            raise Interrupted
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(f"no answer from the server within {timeout_s:g} s")
        if state == psycopg2.extensions.POLL_READ:
            wait_fds([conn], [], remaining, waker)
        elif state == psycopg2.extensions.POLL_WRITE:
            wait_fds([], [conn], remaining, waker)
        else:  # pragma: no cover - psycopg2 raises instead
            raise WaitTimeout(f"unexpected poll state {state}")
