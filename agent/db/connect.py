"""Hardened connection parameters for every connection the agent opens, and a connect helper whose errors are
safe to show and to log.

:func:`connection_kwargs` builds the keyword arguments for ``psycopg2.connect(**kwargs)``: the libpq conninfo
(``dsn``) without a password, and next to it TLS (``sslmode``, ``sslrootcert``), ``connect_timeout``, TCP
keepalives, ``tcp_user_timeout`` and ``application_name`` (PostgreSQL docs, libpq "Parameter Key Words"). The
password travels as a separate keyword so it never sits inside a conninfo string that libpq might echo in a parse
error ("missing "=" after ..."), and the returned mapping hides it from ``repr``/``str``/logging.

:func:`open_connection` connects with those kwargs and turns a failure into :class:`ConnectError`, whose text is the
server's/libpq's message with any password removed, plus the classified :class:`~agent.core.advice.Problem`.

Which thread: any. :func:`connection_kwargs` is pure (no I/O) apart from importing psycopg2 to parse ``dsn``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from agent.core.advice import Problem, classify

log = logging.getLogger(__name__)

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq ``sslmode`` values (PostgreSQL docs, "SSL Support", table "SSL Mode Descriptions")."""

APPLICATION_NAME = "aviso-entradas"
REDACTED = "********"


class ConnectKwargs(dict[str, Any]):
    """A plain ``dict`` for ``psycopg2.connect(**kwargs)`` whose ``repr``/``str`` hide the password."""

    def __repr__(self) -> str:
        shown = {k: (REDACTED if k == "password" and v else v) for k, v in self.items()}
        return f"ConnectKwargs({shown!r})"

    __str__ = __repr__

    @property
    def password(self) -> str | None:
        value = self.get("password")
        return str(value) if value else None


class ConnectError(Exception):
    """A connection attempt failed. ``str()`` is libpq's/the server's message with passwords removed.

    Attributes: ``problem`` (:class:`Problem`), ``sqlstate`` (``None`` for errors raised while connecting: psycopg2
    has no SQLSTATE for them), ``detail`` (the same safe text as ``str()``).
    """

    def __init__(self, problem: Problem, detail: str, sqlstate: str | None = None) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.sqlstate = sqlstate


def connection_kwargs(
    dsn: str = "",
    *,
    password: str | None = None,
    sslmode: str | None = None,
    sslrootcert: str | None = None,
    connect_timeout_s: int = 5,
    application_name: str = APPLICATION_NAME,
    keepalives_idle_s: int = 10,
    keepalives_interval_s: int = 5,
    keepalives_count: int = 3,
    tcp_user_timeout_ms: int | None = 30_000,
    target_session_attrs: str | None = None,
) -> ConnectKwargs:
    """Keyword arguments for ``psycopg2.connect(**kwargs)``.

    ``dsn``: libpq conninfo string or ``postgresql://`` URL ('' = libpq defaults and ``PG*`` environment variables).
    A password found inside ``dsn`` is moved out into the separate ``password`` keyword (``password`` given here
    wins). ``sslmode`` (one of :data:`SSLMODES`) and ``sslrootcert`` (path of the CA certificate, or ``system``
    with libpq 16+) override the DSN's when not ``None``/''. ``connect_timeout_s``: libpq ``connect_timeout``,
    seconds per host (libpq treats values below 2 as 2). Keepalives: a silent peer is detected after about
    ``idle + interval * count`` seconds (25 s by default); ``tcp_user_timeout_ms`` (Linux, libpq 12+) bounds how
    long sent data may stay unacknowledged (``None`` leaves the OS default). ``target_session_attrs``: e.g.
    ``primary`` to refuse hot standbys at connect time (libpq 14+), ``None`` = libpq default ``any``.

    Returns a :class:`ConnectKwargs`: ``{"dsn": ..., "password": ..., "sslmode": ..., ...}``; keys whose value is
    unset are left out so the DSN/environment decide. Raises ``ValueError`` for an unknown ``sslmode`` or a
    malformed ``dsn`` (the message never quotes the DSN). Pure; any thread.
    """
    from psycopg2.extensions import make_dsn, parse_dsn

    try:
        params: dict[str, str] = parse_dsn(dsn) if dsn else {}
    except Exception as exc:  # psycopg2.ProgrammingError; its text may quote the DSN (and a password in it)
        raise ValueError("the connection string (DSN) is malformed; check its key=value pairs or URL") from exc
    inline_password = params.pop("password", None)
    if sslmode is not None and sslmode != "" and sslmode not in SSLMODES:
        raise ValueError(f"unknown sslmode {sslmode!r}: use one of {', '.join(SSLMODES)}")
    kwargs = ConnectKwargs()
    kwargs["dsn"] = make_dsn(**params) if params else ""
    secret = password if password else inline_password
    if secret:
        kwargs["password"] = secret
    if sslmode:
        kwargs["sslmode"] = sslmode
    if sslrootcert:
        kwargs["sslrootcert"] = sslrootcert
    kwargs["connect_timeout"] = max(2, int(connect_timeout_s))
    kwargs["application_name"] = application_name[:63]
    kwargs["keepalives"] = 1
    kwargs["keepalives_idle"] = int(keepalives_idle_s)
    kwargs["keepalives_interval"] = int(keepalives_interval_s)
    kwargs["keepalives_count"] = int(keepalives_count)
    if tcp_user_timeout_ms is not None:
        kwargs["tcp_user_timeout"] = int(tcp_user_timeout_ms)
    if target_session_attrs:
        kwargs["target_session_attrs"] = target_session_attrs
    return kwargs


_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)", re.IGNORECASE)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with each of ``secrets`` and any ``password=...`` / URL password replaced by ``********``. Pure."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _CONNINFO_PASSWORD.sub(lambda m: m.group(1) + REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)


def safe_dsn(kwargs: Mapping[str, Any]) -> str:
    """Where ``kwargs`` connect to, for logs: the DSN with any password masked (``host=... port=... user=...``)."""
    return redact(str(kwargs.get("dsn", "")), kwargs.get("password")) or "(libpq defaults / PG* environment)"


def error_text(exc: BaseException, password: str | None = None) -> str:
    """The message of a psycopg2 error as one safe string: stripped, passwords removed. Pure."""
    return redact(str(exc).strip(), password)


def open_connection(kwargs: Mapping[str, Any]) -> Any:
    """``psycopg2.connect(**kwargs)``; on failure raises :class:`ConnectError` (safe text + :class:`Problem`).

    Logs the attempt at DEBUG and the failure at INFO, both without the password. Blocks up to
    ``connect_timeout`` seconds per host address. Any thread; the connection belongs to the caller.
    """
    import psycopg2

    password = kwargs.get("password")
    log.debug("connecting to %s", safe_dsn(kwargs))
    try:
        return psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        detail = error_text(exc, password)
        sqlstate = getattr(exc, "pgcode", None)
        problem = classify(sqlstate, detail)
        log.info("connection to %s failed (%s): %s", safe_dsn(kwargs), problem.value, detail)
        raise ConnectError(problem, detail, sqlstate) from None
