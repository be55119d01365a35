"""User-facing text: Spanish by default, English selectable. Pure, no I/O.

Every sentence a person reads (CLI output, notifications, tray menu, tooltips, error advice) comes from
:data:`MESSAGES` through :func:`tr`; each area keeps its own table in ``agent/core/msg_<area>.py``.
The language is chosen once: ``--lang``, else ``AVISO_LANG``, else ``es``.
Code, comments and logs' technical parts stay in English.
"""

from __future__ import annotations

import os

from agent.core import msg_deploy, msg_doctor, msg_engine, msg_kit, msg_tray, msg_web

LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"

_TABLES = (
    msg_kit.MESSAGES,
    msg_engine.MESSAGES,
    msg_tray.MESSAGES,
    msg_deploy.MESSAGES,
    msg_doctor.MESSAGES,
    msg_web.MESSAGES,
)


def _merge(tables: tuple[dict[str, dict[str, str]], ...]) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for table in tables:
        clash = merged.keys() & table.keys()
        if clash:  # two areas must never silently overwrite each other's text
            raise RuntimeError(f"message keys defined twice: {sorted(clash)}")
        merged.update(table)
    return merged


MESSAGES: dict[str, dict[str, str]] = _merge(_TABLES)
"""All messages: ``key -> {"es": ..., "en": ...}``. Each area keeps its own table in ``msg_<area>.py``."""


def resolve_language(explicit: str | None = None) -> str:
    """``explicit`` if given, else ``$AVISO_LANG``, else Spanish. Unknown values fall back to Spanish."""
    lang = (explicit or os.environ.get("AVISO_LANG") or DEFAULT_LANGUAGE).lower()[:2]
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def tr(key: str, lang: str = DEFAULT_LANGUAGE, **fields: object) -> str:
    """The message ``key`` in ``lang`` with ``fields`` filled in. Raises ``KeyError`` for an unknown key."""
    entry = MESSAGES[key]
    return entry.get(lang, entry[DEFAULT_LANGUAGE]).format(**fields)
