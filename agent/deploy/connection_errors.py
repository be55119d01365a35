"""The error types of the connection path (:mod:`agent.deploy.connection`), one per failure. Each has
``message(lang)`` (a translated sentence with the fix; never a DSN or a password) and ``state(lang)`` (a few words
for a tooltip: "llavero bloqueado", "sin llavero"...). Pure.
"""

from __future__ import annotations

from typing import ClassVar

from agent.core.config import ConfigError
from agent.core.i18n import tr


class ConnectionSetupError(Exception):
    """Connection parameters cannot be built. ``message(lang)`` is for people; ``str()`` is English and safe."""

    key: ClassVar[str] = "cred.error"
    state_key: ClassVar[str] = "cred.state.error"

    def __init__(self, detail: str = "", **fields: object) -> None:
        super().__init__(detail or type(self).__name__)
        self.detail = detail
        self.fields = fields

    def message(self, lang: str = "es") -> str:
        """The translated sentence with the fix."""
        return tr(self.key, lang, detail=self.detail or "-", **self.fields)

    def state(self, lang: str = "es") -> str:
        """A few words for a tooltip or a status column (``llavero bloqueado``...)."""
        return tr(self.state_key, lang)


class BadSettings(ConnectionSetupError):
    """The settings files or ``AVISO_*`` variables are invalid. ``config_error`` lists every issue."""

    def __init__(self, config_error: ConfigError) -> None:
        super().__init__(str(config_error))
        self.config_error = config_error

    def message(self, lang: str = "es") -> str:
        return tr("config.invalid_header", lang) + "\n" + self.config_error.describe(lang)


class MalformedDsn(ConnectionSetupError):
    """The given DSN does not parse. Neither ``str()`` nor ``message()`` quotes any part of it."""

    key = "error.dsn"

    def __init__(self) -> None:
        super().__init__("the connection string (DSN) is malformed")


_TLS_KEYS = {
    "weak_sslmode": "tls.system.weak_sslmode",
    "bad_env": "tls.system.bad_env",
    "no_bundle": "tls.system.no_bundle",
    "no_roots": "tls.system.no_roots",
    "bad_sslmode": "tls.bad_sslmode",
}
""":class:`agent.deploy.tls.SystemRootsError` reason -> message key."""


class TlsSettingsError(ConnectionSetupError):
    """``sslrootcert = system`` cannot be used here (``reason``: see :class:`agent.deploy.tls.SystemRootsError`),
    or ``reason`` ``bad_sslmode``: an ``sslmode`` libpq does not know (``detail``: that value)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail)
        self.reason = reason

    def message(self, lang: str = "es") -> str:
        return tr(_TLS_KEYS.get(self.reason, "tls.system.no_bundle"), lang, detail=self.detail)


class PasswordProblem(ConnectionSetupError):
    """No password from the keyring (the base of the keyring results below)."""


class NoPasswordStored(PasswordProblem):
    """The keyring answered: nothing is stored for ``account``."""

    key = "cred.missing"
    state_key = "cred.state.missing"

    def __init__(self, account: str) -> None:
        super().__init__(f"no password stored for {account}", account=account)
        self.account = account


class KeyringProblem(PasswordProblem):
    """The keyring could not be read. ``detail``: the backend's text (never the password)."""


class KeyringUnreachable(KeyringProblem):
    """Sin llavero ("no keyring"): no usable store (no Secret Service, no D-Bus session bus, an unsafe backend)."""

    key = "cred.unavailable"
    state_key = "cred.state.unreachable"


class KeyringLocked(KeyringProblem):
    """Llavero bloqueado ("keyring locked"): prompt dismissed or impossible, or still waiting after the bound."""

    key = "cred.locked"
    state_key = "cred.state.locked"


class KeyringTimedOut(KeyringProblem):
    """The store did not answer within ``seconds`` and did not say it was locked."""

    key = "cred.timed_out"
    state_key = "cred.state.timed_out"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s", seconds=f"{seconds:g}")


class KeyringFailed(KeyringProblem):
    """Any other refusal of the store."""
