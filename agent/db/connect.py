"""Conninfo: hardened connection parameters for every connection the agent opens, and a connect helper whose
errors are safe to show and to log. (Turning *settings* plus the keyring password into these parameters is
:mod:`agent.deploy.connection`, the one path every command uses.)

:func:`connection_kwargs` builds the keyword arguments for ``psycopg2.connect(**kwargs)``: the libpq conninfo
(``dsn``) without a password, and next to it TLS (``sslmode``, ``sslrootcert``), ``connect_timeout``, TCP
keepalives, ``tcp_user_timeout``, ``application_name`` and ``client_encoding = UTF8`` (a database or role set to
e.g. ``WIN1252`` would make the server fail on every name outside that code page) (PostgreSQL docs, libpq
"Parameter Key Words"). The password travels as a separate keyword so it never sits inside a conninfo string that
libpq might echo in a parse error ("missing "=" after ..."), and the returned mapping hides it from
``repr``/``str``/logging.

:func:`open_connection` connects with those kwargs and turns a failure into :class:`ConnectError`, whose text is the
server's/libpq's message with any password removed, plus the classified :class:`~agent.core.advice.Problem`.

**TLS trust without surprises.** libpq reads ``~/.postgresql/root.crt`` (Windows ``%APPDATA%\\postgresql\\root.crt``)
whenever that file exists and no ``sslrootcert`` is given, *also* under ``sslmode=prefer/require`` (PostgreSQL docs,
libpq "SSL Support", 34.19.1: "if a root CA file exists, the behavior of sslmode=require will be the same as that of
verify-ca"). A stale file left there by another tool then fails the handshake, and under ``prefer`` libpq silently
retries without encryption. So for the modes that do not ask for verification (``allow``/``prefer``/``require``) and
no ``sslrootcert`` from the caller, the DSN or ``PGSSLROOTCERT`` (and no connection service, whose file may set TLS
options an explicit keyword would override), :func:`connection_kwargs` passes
:data:`NO_ROOT_CERT`, a path that cannot exist: libpq then skips verification, as the configured mode says
(``verify-ca``/``verify-full`` keep libpq's default file). :func:`default_root_cert` names that file for ``doctor``.
Likewise libpq loads ``~/.postgresql/root.crl`` whenever it exists and turns on CRL checking for the whole chain:
a stale CRL of another CA then fails ``verify-full`` with "certificate verify failed" although the configured
``sslrootcert`` is right. So when a CA file is named and no CRL is (``sslcrl``/``sslcrldir``, ``PGSSLCRL``/
``PGSSLCRLDIR``, a service), :func:`connection_kwargs` passes ``sslcrl`` = :data:`NO_ROOT_CERT` (libpq ignores a
CRL file that does not exist). And libpq sends ``~/.postgresql/postgresql.crt`` (with its ``postgresql.key``) as
a client certificate whenever it exists: a leftover with a group-readable key fails every ``require`` connection
("private key file ... has group or world access") and silently downgrades ``prefer`` to an unencrypted session,
and a certificate of another CA fails against a server that checks client certificates. The agent authenticates
with a password, so unless a client certificate is named (``sslcert``/``sslkey``, ``PGSSLCERT``/``PGSSLKEY``, a
service) :func:`connection_kwargs` passes ``sslcertmode=disable`` (libpq 16+; before: ``sslcert`` =
:data:`NO_ROOT_CERT`, which libpq treats as "no certificate").

Which thread: any. :func:`connection_kwargs` is pure (no I/O) apart from importing psycopg2 to parse ``dsn``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.core.advice import Problem, classify
from agent.core.config import SSLMODES as SSLMODES  # re-exported: the one list (PostgreSQL docs, "SSL Support")

log = logging.getLogger(__name__)

VERIFYING_SSLMODES = ("verify-ca", "verify-full")
"""``sslmode`` values that check the server's certificate against ``sslrootcert``."""

NO_ROOT_CERT = os.path.join(os.devnull, "aviso-entradas-no-root-cert")
"""An ``sslrootcert`` that cannot exist (a file "inside" ``/dev/null``: ``ENOTDIR``; on Windows inside ``nul``,
a reserved device name no ordinary folder can have), so libpq's ``stat()`` fails and it verifies nothing under
``allow``/``prefer``/``require`` instead of reading a default ``root.crt`` (libpq ``initialize_SSL``)."""

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
    ignore_default_root_cert: bool = True,
    env: Mapping[str, str] | None = None,
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
    ``ignore_default_root_cert``: pass :data:`NO_ROOT_CERT` when the effective mode (argument, DSN, ``PGSSLMODE``
    in ``env``, else libpq's ``prefer``) does not verify and no CA file is named anywhere (argument, DSN,
    ``PGSSLROOTCERT``) and no connection service is named (``service=``, ``PGSERVICE``: its file may set both);
    ``sslcrl`` = :data:`NO_ROOT_CERT` when a CA file is named but no CRL is; ``sslcertmode=disable``
    (older libpq: ``sslcert`` = :data:`NO_ROOT_CERT`) unless a client certificate is named. See the module docstring.

    Returns a :class:`ConnectKwargs`: ``{"dsn": ..., "password": ..., "sslmode": ..., ...}``; keys whose value is
    unset are left out so the DSN/environment decide. Raises ``ValueError`` for an unknown ``sslmode``, a
    malformed ``dsn`` (the message never quotes the DSN) or a password with a NUL character (never quoted).
    Pure; any thread.
    """
    from psycopg2.extensions import libpq_version, make_dsn, parse_dsn

    try:
        params: dict[str, str] = parse_dsn(dsn) if dsn else {}
    except Exception:  # psycopg2.ProgrammingError; its text may quote the DSN (and a password in it): not chained,
        # or a logged traceback would print it as the cause
        raise ValueError("the connection string (DSN) is malformed; check its key=value pairs or URL") from None
    inline_password = params.pop("password", None)
    if sslmode is not None and sslmode != "" and sslmode not in SSLMODES:
        raise ValueError(f"unknown sslmode {sslmode!r}: use one of {', '.join(SSLMODES)}")
    kwargs = ConnectKwargs()
    kwargs["dsn"] = make_dsn(**params) if params else ""
    secret = password if password else inline_password
    if secret and "\x00" in secret:  # libpq takes C strings; psycopg2 would raise a bare "embedded null character"
        raise ValueError("the password contains a NUL character, which cannot be sent to PostgreSQL")
    if secret:
        kwargs["password"] = secret
    if sslmode:
        kwargs["sslmode"] = sslmode
    environ = os.environ if env is None else env
    if (sslrootcert or params.get("sslrootcert")) and ignore_default_root_cert and not _crl_named(params, environ):
        kwargs["sslcrl"] = NO_ROOT_CERT  # a named CA: libpq's default root.crl beside it is someone else's
    if ignore_default_root_cert and not _client_cert_named(params, environ):
        # no client certificate unless one is named (never a leftover default): libpq 16+ says so in a keyword;
        # older ones get a file that cannot exist ("not present" = no certificate, libpq initialize_SSL)
        if libpq_version() >= 160000:
            kwargs["sslcertmode"] = "disable"
        else:
            kwargs["sslcert"] = NO_ROOT_CERT
    if sslrootcert:
        kwargs["sslrootcert"] = sslrootcert
    elif ignore_default_root_cert and not _tls_named_elsewhere(params, environ):
        mode = sslmode or params.get("sslmode") or (os.environ if env is None else env).get("PGSSLMODE") or "prefer"
        if mode != "disable" and mode not in VERIFYING_SSLMODES:
            kwargs["sslrootcert"] = NO_ROOT_CERT
    # UTF-8 asked for at connect time (a startup parameter outranks ALTER DATABASE/ROLE ... SET client_encoding,
    # PostgreSQL docs "Setting Parameters"): a database set to WIN1252 made a member named "Łukasz" unreadable
    kwargs["client_encoding"] = "UTF8"
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


def _client_cert_named(params: Mapping[str, str], env: Mapping[str, str]) -> bool:
    """True when a client certificate/key is named (DSN ``sslcert``/``sslkey``, ``PGSSLCERT``/``PGSSLKEY``) or a
    service is."""
    named = ("sslcert", "sslkey", "service")
    return any(params.get(k) for k in named) or any(env.get(v) for v in ("PGSSLCERT", "PGSSLKEY", "PGSERVICE"))


def _crl_named(params: Mapping[str, str], env: Mapping[str, str]) -> bool:
    """True when a CRL is named (DSN ``sslcrl``/``sslcrldir``, ``PGSSLCRL``/``PGSSLCRLDIR``) or a service is."""
    named = ("sslcrl", "sslcrldir", "service")
    return any(params.get(k) for k in named) or any(env.get(v) for v in ("PGSSLCRL", "PGSSLCRLDIR", "PGSERVICE"))


def _tls_named_elsewhere(params: Mapping[str, str], env: Mapping[str, str]) -> bool:
    """True when a CA file is named (DSN, ``PGSSLROOTCERT``) or a connection service is (``service=`` in the DSN,
    ``PGSERVICE``): a service file may hold ``sslmode``/``sslrootcert``, and an explicit keyword would override
    them (PostgreSQL docs, libpq "The Connection Service File"), so the shield stays out of IT's way there."""
    return bool(params.get("sslrootcert") or env.get("PGSSLROOTCERT") or params.get("service") or env.get("PGSERVICE"))


def default_root_cert(env: Mapping[str, str] | None = None) -> Path | None:
    """The CA file libpq reads by default when no ``sslrootcert`` is given, if it exists, else None.

    ``~/.postgresql/root.crt`` (libpq takes the home folder from ``HOME``, then the password database), on Windows
    ``%APPDATA%\\postgresql\\root.crt`` (PostgreSQL docs, libpq "SSL Support", table "Libpq/Client SSL File
    Usage"). The agent itself never uses it under ``allow``/``prefer``/``require`` (:data:`NO_ROOT_CERT`); ``doctor``
    names it as the cause of a verification failure under ``verify-ca``/``verify-full`` without ``sslrootcert``,
    or as a file the agent ignores. Reads only the file system; any thread.
    """
    env = os.environ if env is None else env
    if sys.platform == "win32":
        appdata = env.get("APPDATA")
        if not appdata:
            return None
        path = Path(appdata) / "postgresql" / "root.crt"
    else:
        home = env.get("HOME") or os.path.expanduser("~")
        path = Path(home) / ".postgresql" / "root.crt"
    return path if path.is_file() else None


def make_conninfo(**params: str | int | None) -> str:
    """A libpq keyword/value conninfo string from ``params`` (empty/None values left out), each value single-quoted
    with ``\\`` and ``'`` escaped (PostgreSQL docs, libpq "Keyword/Value Connection Strings"). Pure; needs no
    driver. The one conninfo builder of the agent (:func:`agent.deploy.connection.resolve` uses it)."""
    parts = []
    for key, value in params.items():
        if value is None or value == "":
            continue
        text = str(value).replace("\\", "\\\\").replace("'", "\\'")
        parts.append(f"{key}='{text}'")
    return " ".join(parts)


_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)(\S*)(@)", re.IGNORECASE)  # to the last "@": a raw "@"
_ENV_PASSWORD = re.compile(r"(PGPASSWORD\s*=\s*)(\S+)")


def redact(text: str, *secrets: str | None, mask: str = REDACTED) -> str:
    """``text`` with each of ``secrets`` and any ``password=...`` / URL password / ``PGPASSWORD=...`` replaced by
    ``mask``. Pure. (The log filter in :mod:`agent.logging_setup` can use this one.)"""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask)
    text = _CONNINFO_PASSWORD.sub(lambda m: m.group(1) + mask, text)
    text = _ENV_PASSWORD.sub(lambda m: m.group(1) + mask, text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + mask + m.group(3), text)


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
