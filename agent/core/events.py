"""Immutable events that the listener's worker thread posts to a ``queue.Queue`` for the UI side to drain.

The worker never calls UI code; the tray (or the console listener) is the only consumer. Every event is a frozen
dataclass, safe to hand across threads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from agent.core.model import Entry, Source


class ConnState(StrEnum):
    """States of the listener connection (see :mod:`agent.core.state`)."""

    CONNECTING = "connecting"
    LISTENING = "listening"
    BACKING_OFF = "backing_off"
    AUTH_FAILED = "auth_failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class EntryReceived:
    """A member entry, delivered once. ``source`` says whether it came live or from catch-up."""

    entry: Entry
    source: Source
    received_monotonic: float
    """``time.monotonic()`` when the worker handed it over, in seconds (latency measurement)."""


@dataclass(frozen=True, slots=True)
class BacklogSummary:
    """Entries older than the replay age found at catch-up, reported once instead of one by one."""

    count: int
    oldest: dt.datetime
    newest: dt.datetime


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The connection changed state. ``reason`` is a short translated sentence for people ('' when none);
    ``retry_in_s`` is the backoff delay in seconds when ``state`` is BACKING_OFF or AUTH_FAILED."""

    state: ConnState
    reason: str = ""
    retry_in_s: float | None = None
    server: str = ""
    """``host:port/dbname`` of the server, never credentials."""


Event = EntryReceived | BacklogSummary | StateChanged


# -- desk-side events (posted to the desk's own queue, never by the engine) -----------------------------------------
@dataclass(frozen=True, slots=True)
class PhotoReady:
    """The photo source finished fetching the photo for entry ``entry_id`` (one of its pool threads posts it):
    ``path`` is a local thumbnail, or None when there is no usable photo."""

    entry_id: int
    path: Path | None
