"""The photo port: what the desk needs to put a member's photo on a notice. Protocol and null twin only; the
implementation lives beside this module.

Threads: :meth:`PhotoSource.cached` may be called from any thread and never blocks on the network;
:meth:`PhotoSource.fetch` only starts work and returns at once, and calls ``done`` later on one of its own pool
threads (never the caller's), exactly once, with the thumbnail's path or ``None`` when there is no usable photo.
"""

from __future__ import annotations

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
        """Start fetching ``member``'s photo in the background; ``done(path_or_None)`` is called once, later."""
        ...

    def close(self) -> None:
        """Stop the pool (pending fetches are abandoned). Once, at exit."""
        ...


class NoPhotos:
    """The null twin: no photo for anyone (tests, ``--headless`` consoles)."""

    def cached(self, member: Member) -> Path | None:
        return None

    def needs_fetch(self, member: Member) -> bool:
        return False

    def fetch(self, member: Member, done: Callable[[Path | None], None]) -> None:
        done(None)

    def close(self) -> None:
        pass
