"""The agent's data: an :class:`Entry` at the turnstile and the :class:`Member` who made it. Pure, immutable.

SQL names map to these attributes in :mod:`agent.core.names` only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Member:
    """Display data of a member (``miembros``). Optional columns a schema lacks are ``None``.

    ``balance_due`` is in the gym's currency (``saldo_pendiente``); dates are calendar dates of the server.
    """

    member_id: int | str
    """``id_miembro``: an int, or the text of a non-numeric id (a varchar key such as ``'M-001'``)."""
    first_name: str
    last_name: str
    plan: str | None = None
    expires_on: dt.date | None = None
    balance_due: Decimal | None = None
    birth_date: dt.date | None = None
    photo_url: str | None = None
    notes: str | None = None
    photo_data: bytes | None = field(default=None, repr=False)
    """The bytes of the configured ``bytea`` photo column (``photos.column``), when there is one."""

    @property
    def full_name(self) -> str:
        """``"first last"``, stripped."""
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class Entry:
    """One member passage (``registro_entradas``) joined with its member as the table has them now.

    ``occurred_at`` is timezone-aware (``fecha_hora`` is ``timestamptz``). ``member`` is ``None`` only when the
    row names no member or the member row is gone. ``denied`` is true when the turnstile refused the passage.
    """

    entry_id: int
    member_id: int | str | None
    occurred_at: dt.datetime
    access_type: str = "miembro"
    turnstile: str | None = None
    result: str | None = None
    member: Member | None = None
    previous_entry_at: dt.datetime | None = None
    """When this member last passed before this entry with a granted result (``entrada_previa`` in
    ``listen --json``); ``None`` when there is no such earlier entry (or it was not looked up)."""
    first_visit: bool = False
    """No earlier entry of this member exists in ``registro_entradas`` at all (``primera_visita``)."""

    @property
    def denied(self) -> bool:
        """The turnstile refused the passage (``resultado = 'denegado'``)."""
        from agent.core.names import RESULT_DENIED

        return self.result == RESULT_DENIED


class Source(StrEnum):
    """How an entry reached the agent."""

    LIVE = "live"
    """By NOTIFY while listening."""
    CATCHUP = "catchup"
    """From the table after a (re)connect, a restart or a periodic sweep."""
