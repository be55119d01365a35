"""What goes into the desk state and what comes out of it: commands (from the menu, the composition, clicks) and
effects (for the loop to carry out). Immutable values, safe to hand across threads. Pure, no I/O.

Inputs of :class:`agent.desk.state.DeskState`: the engine's events (:mod:`agent.core.events`), the desk-side
:class:`~agent.core.events.PhotoReady`, and the commands below. Outputs: the effects below, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.core.config import Settings
from agent.core.model import Entry, Member
from agent.core.notify_text import Notice


# -- commands ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pause:
    """Pause for ``minutes`` (None: until resumed)."""

    minutes: float | None


@dataclass(frozen=True)
class Resume:
    """Resume now: one summary of what came in."""


@dataclass(frozen=True)
class TogglePause:
    """Pause until resumed, or resume when paused (the xorg icon's click)."""


@dataclass(frozen=True)
class ToggleWarningsOnly:
    """Turn warnings-only mode on or off (until the settings are read again)."""


@dataclass(frozen=True)
class TestNotice:
    """Show the test notification (bypasses pause, flood control and warnings-only)."""


@dataclass(frozen=True)
class Replay:
    """Show a recent entry again."""

    notice: Notice


@dataclass(frozen=True)
class ReconnectNow:
    """Ask the engine to reconnect at once."""


@dataclass(frozen=True)
class ReloadSettings:
    """Re-read settings and password and swap the engine (the composition's reload)."""


@dataclass(frozen=True)
class Reloaded:
    """The composition read fresh settings (posted back after :class:`ReloadSettings`)."""

    settings: Settings


@dataclass(frozen=True)
class KeyringStatus:
    """Why the keyring gave no password ('' when it did): a translated sentence with the fix. Shown instead of a
    password error; while it is not '', the desk retries the keyring every ``KEYRING_RETRY_S``."""

    problem: str
    state: str = ""
    """A few words for the tray ("llavero bloqueado", "sin llavero"...)."""


@dataclass(frozen=True)
class OpenLogFile:
    """Open the log file in the desktop's viewer."""


@dataclass(frozen=True)
class Clicked:
    """A notification was clicked (a notifier thread posts it)."""

    notice: Notice


@dataclass(frozen=True)
class Call:
    """Run ``fn`` on the desk thread, inside its exception barrier (menu sections' ``ctx.post``)."""

    fn: Callable[[], None]


@dataclass(frozen=True)
class ShowText:
    """Show a plain notice (``title``, ``body``): menu sections' ``ctx.show``."""

    title: str
    body: str


Command = (
    Pause
    | Resume
    | TogglePause
    | ToggleWarningsOnly
    | TestNotice
    | Replay
    | ReconnectNow
    | ReloadSettings
    | Reloaded
    | KeyringStatus
    | OpenLogFile
    | Clicked
    | Call
    | ShowText
)


# -- effects ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShowNotice:
    """Show ``notice``; it stands for the entries ``entry_ids`` (acknowledged once some notifier accepted it).
    ``probe``: try the primary notifier only (the retry after the display path failed; a summary of the missed
    notices). ``covers``: for a probe, how many missed notices it summarises, counted from the first one ever
    missed (:mod:`agent.desk.display`: its acceptance retires exactly those)."""

    notice: Notice
    entry_ids: tuple[int, ...] = ()
    probe: bool = False
    covers: int = 0
    items: tuple[Notice, ...] = ()
    """For a summary: the entry notices it stands for (a missed summary then counts and names those entries, not
    the summary); empty for a notice that stands for itself."""


@dataclass(frozen=True)
class Ack:
    """Tell the engine these entries reached a person (or were deliberately not popped up)."""

    entry_ids: tuple[int, ...]


@dataclass(frozen=True)
class FetchPhoto:
    """Start fetching the photo of ``member`` for entry ``entry_id`` (the answer is a ``PhotoReady``)."""

    entry_id: int
    member: Member


@dataclass(frozen=True)
class Publish:
    """A member entry was handled: tell the entry listeners (the page). ``notice`` is None when its text failed."""

    entry: Entry
    notice: Notice | None


@dataclass(frozen=True)
class SayLine:
    """Headless mode: one line about the connection for the console."""

    text: str


@dataclass(frozen=True)
class DoReconnect:
    """Call the engine's ``reconnect_now``."""


@dataclass(frozen=True)
class DoReload:
    """Run the composition's reload (off the desk thread); it posts :class:`Reloaded`/:class:`KeyringStatus`."""


@dataclass(frozen=True)
class DoOpenLog:
    """Open the log file."""


@dataclass(frozen=True)
class RunClick:
    """Run the click action ``template`` for ``member_id`` (:mod:`agent.desk.click`)."""

    template: str
    member_id: int | str


Effect = ShowNotice | Ack | FetchPhoto | Publish | SayLine | DoReconnect | DoReload | DoOpenLog | RunClick
