"""The one connection path: settings (+ command-line overrides, + the keyring password, + TLS options) ->
:class:`ConnectionParams`, with one error type per failure.

Every command that connects to the configured server (``configure``, ``listen``, the tray, ``doctor``, the settings
window) calls :func:`resolve`; libpq keyword arguments then come from :meth:`ConnectionParams.connect_kwargs`
(:func:`agent.db.connect.connection_kwargs`, which adds keepalives, timeouts and the TLS default-file policy).

Errors (all :class:`ConnectionSetupError`, each with ``message(lang)``: a translated sentence with the fix, never
the DSN or a password):

* raised by :func:`resolve`: :class:`BadSettings` (invalid settings files / variables), :class:`MalformedDsn`
  (``--dsn`` does not parse; nothing of it is echoed), :class:`TlsSettingsError` (``sslrootcert = system``
  cannot be used here: :mod:`agent.deploy.tls`);
* *recorded* in :attr:`ConnectionParams.password_problem` (``password`` is then None and libpq falls back to
  ``PGPASSWORD``/``.pgpass``; the caller decides whether that is fatal, e.g. ``configure`` calls
  :meth:`ConnectionParams.require_password`): :class:`NoPasswordStored`, :class:`KeyringUnreachable` ("sin
  llavero"), :class:`KeyringLocked` ("llavero bloqueado"), :class:`KeyringTimedOut`, :class:`KeyringFailed`.

Keyring calls never block their caller for longer than ``timeout_s`` (default 5 s; :mod:`agent.deploy.keyring_access`):
they run in a daemon worker thread. A locked Secret Service collection makes ``keyring``'s read wait for the unlock
prompt with no timeout of its own; after ``timeout_s`` the store is asked, without prompting, whether it is locked
(:class:`KeyringLocked`) or just not answering (:class:`KeyringTimedOut`). At most one read per account is in
flight: a later call waits for the same worker (so retries never pile up threads), and once the person unlocks the
keyring that read completes and the next call gets the password.

Which thread: any; :func:`resolve` blocks up to ``timeout_s`` (+1 s for the lock probe) on a keyring read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.core import names
from agent.core.config import SSLMODES, ConfigError, ConnectionSettings, Settings, credential_account
from agent.db.connect import APPLICATION_NAME, ConnectKwargs, connection_kwargs
from agent.deploy import tls
from agent.deploy.connection_errors import (
    BadSettings,
    ConnectionSetupError,
    KeyringFailed,
    KeyringLocked,
    KeyringProblem,
    KeyringTimedOut,
    KeyringUnreachable,
    MalformedDsn,
    NoPasswordStored,
    PasswordProblem,
    TlsSettingsError,
)
from agent.deploy.keyring_access import (
    DEFAULT_TIMEOUT_S,
    forget_password,
    open_keyring,
    read_keyring_password,
    reads_in_flight,
    store_password,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "BadSettings",
    "ConnectionParams",
    "ConnectionSetupError",
    "KeyringFailed",
    "KeyringLocked",
    "KeyringProblem",
    "KeyringTimedOut",
    "KeyringUnreachable",
    "MalformedDsn",
    "NoPasswordStored",
    "PasswordProblem",
    "PasswordReader",
    "TlsSettingsError",
    "configured_settings",
    "forget_password",
    "open_keyring",
    "read_keyring_password",
    "read_secret_line",
    "reads_in_flight",
    "resolve",
    "store_password",
]

# ----------------------------------------------------------------------------------------------------- params


@dataclass(frozen=True)
class ConnectionParams:
    """Where and how to connect. ``dsn``: libpq conninfo *without* password (host, port, dbname, user; with a DSN
    override: that DSN minus its password). ``sslmode``/``sslrootcert``: '' = from the DSN / ``PG*`` variables /
    libpq; ``sslrootcert`` is already resolved (``system`` -> a CA bundle path). ``account``: the keyring account
    (None with a DSN override). ``password_source``: ``override`` (stdin / prompt), ``dsn``, ``keyring`` or
    ``none``. ``server``: ``host:port/database`` for people."""

    dsn: str
    password: str | None = field(default=None, repr=False)
    sslmode: str = ""
    sslrootcert: str = ""
    connect_timeout_s: int = 5
    channel: str = names.DEFAULT_CHANNEL
    account: str | None = None
    password_source: str = "none"  # noqa: S105 (where the password came from, not a password)
    password_problem: PasswordProblem | None = field(default=None, compare=False)
    server: str = ""

    def connect_kwargs(self, application_name: str = APPLICATION_NAME, **options: Any) -> ConnectKwargs:
        """Keyword arguments for ``psycopg2.connect(**kwargs)`` (:func:`agent.db.connect.connection_kwargs`;
        ``options`` are its keepalive/timeout keywords). Pure."""
        return connection_kwargs(
            self.dsn,
            password=self.password,
            sslmode=self.sslmode or None,
            sslrootcert=self.sslrootcert or None,
            connect_timeout_s=self.connect_timeout_s,
            application_name=application_name,
            **options,
        )

    def require_password(self) -> str:
        """The password; raises :attr:`password_problem` (or :class:`NoPasswordStored`) when there is none."""
        if self.password:
            return self.password
        raise self.password_problem or NoPasswordStored(self.account or self.server)


MAX_CONNECT_TIMEOUT_S = 300
"""Upper bound of a DSN's ``connect_timeout`` (the settings' own range, ``connection.connect_timeout_s``)."""

PasswordReader = Callable[[str, float], "str | None"]
"""``(account, timeout_s) -> password or None``; raises :class:`PasswordProblem` subclasses."""


def resolve(
    settings: ConnectionSettings | None,
    *,
    dsn_override: str | None = None,
    password_override: str | None = None,
    sslmode: str | None = None,
    sslrootcert: str | None = None,
    channel: str | None = None,
    read_password: PasswordReader | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> ConnectionParams:
    """Connection parameters for ``settings`` (the configured server), or for ``dsn_override`` (``--dsn``; then
    ``settings`` may be None and only the DSN, ``PG*`` variables and these keywords count; '' = ``PG*`` only).

    Password, first found: ``password_override`` (``--password-stdin``, a prompt, the settings window's field);
    the DSN's own; the keyring (settings only; ``read_password``, default :func:`read_keyring_password`, bounded by
    ``timeout_s``). ``sslmode``/``sslrootcert``/``channel`` override the settings' and the DSN's. ``env`` (tests):
    where ``SSL_CERT_FILE``, ``PGSSLMODE`` and ``PGSSLROOTCERT`` are looked up (``PGSSLROOTCERT=system`` with no
    ``sslrootcert`` given is resolved like ``sslrootcert = system``).

    Raises :class:`MalformedDsn`, :class:`TlsSettingsError` (``sslrootcert = system`` unusable, or an unknown
    ``sslmode``); keyring results go to ``password_problem``.
    """
    from psycopg2.extensions import make_dsn, parse_dsn

    if dsn_override is not None:
        try:
            params: dict[str, str] = parse_dsn(dsn_override) if dsn_override else {}
        except Exception:  # psycopg2.ProgrammingError quotes the DSN: never pass it on
            raise MalformedDsn() from None
        if not _ports_ok(params.get("port", "")):
            raise MalformedDsn()  # libpq would refuse it at every connection attempt, the engine retrying for ever
        inline = params.pop("password", None)
        mode = sslmode or params.pop("sslmode", "")
        root = _system_from_env(sslrootcert or params.pop("sslrootcert", ""), env)
        if root.strip().lower() == tls.SYSTEM and not (mode or _env_sslmode(env)):
            mode = "verify-full"  # libpq 16+'s default for sslrootcert=system
        given_timeout = params.pop("connect_timeout", "").strip()
        timeout = int(given_timeout) if given_timeout.isascii() and given_timeout.isdigit() else 5  # not "²"
        timeout = min(max(timeout, 1), MAX_CONNECT_TIMEOUT_S)  # 99999999999 overflowed the engine's select()
        where = f"{params.get('host', '')}:{params.get('port', '')}/{params.get('dbname', '')}"
        root = _resolve_root(mode or _env_sslmode(env), root, env)
        return ConnectionParams(
            dsn=make_dsn(**params) if params else "",
            password=password_override or inline or None,
            sslmode=mode,
            sslrootcert=root,
            connect_timeout_s=timeout,
            channel=channel or names.DEFAULT_CHANNEL,
            password_source="override" if password_override else "dsn" if inline else "none",
            server=where,
        )
    if settings is None:
        raise ValueError("resolve() needs settings or a dsn_override")
    from agent.db.connect import make_conninfo

    mode = sslmode or settings.sslmode
    root = _system_from_env(sslrootcert if sslrootcert is not None else settings.sslrootcert, env)
    root = _resolve_root(mode, root, env)
    account = credential_account(settings)
    password, source, problem = password_override or None, "override", None
    if password is None:
        source = "keyring"
        try:
            password = (read_password or read_keyring_password)(account, timeout_s)
        except PasswordProblem as exc:
            problem = exc
        if password is None:
            source = "none"
            problem = problem or NoPasswordStored(account)
    return ConnectionParams(
        dsn=make_conninfo(host=settings.host, port=settings.port, dbname=settings.database, user=settings.user),
        password=password,
        sslmode=mode,
        sslrootcert=root,
        connect_timeout_s=settings.connect_timeout_s,
        channel=channel or settings.channel,
        account=account,
        password_source=source,
        password_problem=problem,
        server=f"{settings.host}:{settings.port}/{settings.database}",
    )


def configured_settings(overrides: Mapping[str, object] | None = None, *, use_env: bool = True) -> Settings:
    """The effective :class:`agent.core.config.Settings` (:func:`agent.deploy.config_files.load`), or
    :class:`BadSettings`."""
    from agent.deploy import config_files

    try:
        return config_files.load(overrides=overrides, use_env=use_env).settings
    except ConfigError as exc:
        raise BadSettings(exc) from None


def _ports_ok(ports: str) -> bool:
    """A DSN's ``port``: '' or comma-separated numbers 1..65535 ('' entries allowed: libpq's default)."""
    return all(not p.strip() or (p.strip().isascii() and p.strip().isdigit() and 0 < int(p) < 65536)
               for p in ports.split(","))  # fmt: skip


def _env_sslmode(env: Mapping[str, str] | None) -> str:
    return (os.environ if env is None else env).get("PGSSLMODE", "")


def _system_from_env(sslrootcert: str, env: Mapping[str, str] | None) -> str:
    """``sslrootcert``, or ``system`` when none is given and IT set ``PGSSLROOTCERT=system``: libpq would read that
    variable itself and ask the bundled OpenSSL's empty store (a misleading "certificate verify failed")."""
    if sslrootcert:
        return sslrootcert
    from_env = (os.environ if env is None else env).get("PGSSLROOTCERT", "")
    return tls.SYSTEM if from_env.strip().lower() == tls.SYSTEM else ""


def _resolve_root(sslmode: str, sslrootcert: str, env: Mapping[str, str] | None) -> str:
    """``sslrootcert`` resolved (:func:`agent.deploy.tls.resolve_rootcert`); first checks ``sslmode`` (a DSN's or a
    keyword's: the settings' is validated already), which the engine would otherwise retry on for ever."""
    if sslmode and sslmode not in SSLMODES:
        raise TlsSettingsError("bad_sslmode", sslmode)
    try:
        return tls.resolve_rootcert(sslmode, sslrootcert, env=env)
    except tls.SystemRootsError as exc:
        raise TlsSettingsError(exc.reason, exc.detail) from None


# ------------------------------------------------------------------------------------------------ stdin


def read_secret_line(prompt: str) -> str:
    """A password from standard input: on a terminal a prompt without echo (``getpass``); from a pipe the first
    line (``printf %s "$PW" | ...``) without its line ending and without the byte-order mark some Windows tools
    put first. '' when standard input is closed or empty. The one stdin reader of ``configure``, ``doctor`` and
    ``setup-db``. Main thread.

    A pipe is read as bytes and decoded as UTF-8, else in the stream's own encoding, else cp1252: on Windows a
    pipe's text encoding is the ANSI code page, so decoding a UTF-8 file or PowerShell 7 pipe as text would store
    ``ï»¿contraseÃ±a``; and a cp1252 file on a UTF-8 Linux box must not end in a ``UnicodeDecodeError``.
    """
    stdin = sys.stdin
    if stdin is None or stdin.closed:
        return ""
    try:
        if stdin.isatty():
            import getpass

            return getpass.getpass(prompt)
        buffer = getattr(stdin, "buffer", None)
        if buffer is None:  # a text-only stream (tests, embedding)
            return stdin.readline().lstrip("\ufeff").rstrip("\r\n")
        raw = buffer.readline().rstrip(b"\r\n").removeprefix(b"\xef\xbb\xbf")
    except (OSError, ValueError):  # a closed descriptor behind the stream
        return ""
    return _decode_secret(raw, getattr(stdin, "encoding", None) or "utf-8")


def _decode_secret(raw: bytes, stream_encoding: str) -> str:
    """``raw`` as UTF-8, else ``stream_encoding``, else cp1252 (latin-1 for its five unassigned bytes). Pure."""
    for encoding in ("utf-8", stream_encoding, "cp1252"):
        try:
            return raw.decode(encoding).lstrip("\ufeff")
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("latin-1")
