"""The photo port: what the desk needs to put a member's photo on a notice. Protocol and null twin only; the
implementation lives beside this module.

Threads: :meth:`PhotoSource.cached` may be called from any thread and never blocks on the network;
:meth:`PhotoSource.fetch` only starts work and returns at once, and calls ``done`` later on one of its own pool
threads (never the caller's), exactly once, with the thumbnail's path or ``None`` when there is no usable photo.

How the desk uses it (the budget is the desk's: ``settings.photos.budget_ms``)::

    path = photos.cached(member)                 # fresh thumbnail or local file: show it now
    if path is None and photos.needs_fetch(member):
        photos.fetch(member, done)               # done(path_or_None) on a pool thread, exactly once
        # wait for done at most budget_ms; if it has not come, show the notice without the photo.
        # The fetch goes on (bounded by a hard cap) and caches the thumbnail for this member's next entry.

The implementation is :class:`agent.photos.source.Photos`; the null twin is :class:`NoPhotos`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from agent.core.model import Member


class PhotoSource(Protocol):
    """Member photo thumbnails as local files (PNG/JPEG) that a notifier can show."""

    def cached(self, member: Member) -> Path | None:
        """A fresh thumbnail on disk for ``member`` (or ``member``'s local photo file), else None. No network."""
        ...

    def needs_fetch(self, member: Member) -> bool:
        """True when ``member`` has a photo that is not cached yet and can be fetched (``http(s)://`` URL or
        ``bytea`` data)."""
        ...

    def fetch(self, member: Member, done: Callable[[Path | None], None]) -> None:
        """Start fetching ``member``'s photo in the background; ``done(path_or_None)`` is called once, later, on a
        pool thread (``None``: no usable photo; a photo that failed is not fetched again for a few minutes).
        ``done`` must be quick and must not touch the GUI (post an event instead); an exception from it is
        logged and swallowed. After :meth:`close`, ``fetch`` does nothing and ``done`` is not called."""
        ...

    def close(self) -> None:
        """Stop the pool promptly: queued fetches are abandoned (their ``done`` is not called), running ones are
        interrupted and call ``done(None)``. Does not wait for the pool threads. At exit; calling it twice is
        harmless."""
        ...


class NoPhotos:
    """The null twin: no photo for anyone (tests, ``--headless`` consoles)."""

    def cached(self, member: Member) -> Path | None:
        return None

    def needs_fetch(self, member: Member) -> bool:
        return False

    def fetch(self, member: Member, done: Callable[[Path | None], None]) -> None:
        """``done(None)`` on a thread of its own, as the port promises (never the caller's: a caller that holds a
        lock its ``done`` also takes must not deadlock only when photos are off)."""
        threading.Thread(target=done, args=(None,), name="photos-none", daemon=True).start()

    def close(self) -> None:
        pass
