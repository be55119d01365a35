"""Parsing of an untrusted NOTIFY payload into a :class:`Hint`. Pure.

Any role that can connect may send anything on any channel (PostgreSQL docs, "NOTIFY"), so a payload is only a
hint: the engine always re-reads the entry by ``id_entrada`` from the table, in one batched query, and delivers
what the table says. Parsing therefore needs just a valid id; everything else is checked for the log.
Payload format: ``sql/setup_postgres_trigger.sql`` and docs/turnstile-kit.md "Payload (version 1)".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_PAYLOAD_BYTES = 32_000
"""NOTIFY payloads "must be shorter than 8000 bytes" in the default build (PostgreSQL docs, "NOTIFY") in the
*server's* encoding; converted to UTF-8 for us they can grow (a LATIN1 'ñ' is 2 bytes, some encodings up to 4), so
the cap here is 4 × 8000: anything larger cannot have come from a server."""
SUPPORTED_VERSIONS = frozenset({1})
MAX_ID = 2**63 - 1  # bigint


class PayloadError(ValueError):
    """The payload cannot name an entry. ``str()`` is a one-line reason for the log (never the whole payload)."""


@dataclass(frozen=True, slots=True)
class Hint:
    """What a payload claims: the entry id, its format version, and whether the trigger truncated it."""

    entry_id: int
    version: int | None
    truncated: bool
    warning: str = ""
    """Non-fatal oddity for the log ('' when none), e.g. an unknown version."""


def parse(payload: str | None) -> Hint:
    """Parse ``payload`` (the ``Notify.payload`` string). Raises :class:`PayloadError` with a short reason."""
    if payload is None or payload == "":
        raise PayloadError("empty payload")
    if len(payload.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload over {MAX_PAYLOAD_BYTES} bytes")
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"invalid JSON ({type(exc).__name__})") from None
    if not isinstance(body, dict):
        raise PayloadError(f"JSON {type(body).__name__}, expected an object")
    entry_id = body.get("id_entrada")
    # bool is an int subclass; "12" or 12.0 are not ids either.
    if type(entry_id) is not int:
        raise PayloadError("id_entrada missing or not an integer")
    if not 0 < entry_id <= MAX_ID:
        raise PayloadError("id_entrada out of range")
    version = body.get("v")
    warning = ""
    if type(version) is not int:
        version, warning = None, "payload without a valid version 'v'"
    elif version not in SUPPORTED_VERSIONS:
        warning = f"unknown payload version {version}"
    truncated = body.get("truncated") is True
    if not truncated and not isinstance(body.get("miembro"), dict):
        warning = warning or "payload without member fields"
    return Hint(entry_id=entry_id, version=version, truncated=truncated, warning=warning)
