"""The OS keyring through the ``keyring`` library, with the backend chosen explicitly (no entry-point discovery).

Why explicit: keyring discovers backends through package entry points, which a frozen build may not carry; then it
silently falls back to ``fail.Keyring`` (jaraco/keyring#324, #468; the maintainer's advice there is to import the
backend module explicitly). So:

* Windows: ``keyring.backends.Windows.WinVaultKeyring`` (Windows Credential Manager, via pywin32-ctypes);
* Linux: ``keyring.backends.SecretService.Keyring`` (GNOME Keyring / KWallet over D-Bus, via SecretStorage);
* ``PYTHON_KEYRING_BACKEND=<module.Class>`` (keyring's own variable) overrides both.

Plain-text and "fail"/"null" backends are refused: the password must not end up unprotected on disk.
Which thread: any, one call at a time. Service and account names: see :mod:`agent.adapters.credentials_api`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from agent.adapters.credentials_api import CredentialsError, CredentialsLocked, CredentialsUnavailable
from agent.core.config import CREDENTIAL_SERVICE

REFUSED_BACKENDS = (
    "keyring.backends.fail.Keyring",
    "keyring.backends.null.Keyring",
    "keyrings.alt.file.PlaintextKeyring",
)
"""Backends that would silently lose or expose the password."""

_FRIENDLY = {
    "WinVaultKeyring": "Windows Credential Manager",
    "SecretService": "GNOME Keyring / Secret Service",
    "libsecret": "GNOME Keyring / Secret Service",
    "kwallet": "KWallet",
}
"""Where the password went, in people's words (``configure`` prints it; no class names)."""


def _qualname(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _instantiate(cls: Any) -> Any:
    """``cls()`` for keyring's (untyped) backend classes."""
    return cls()


def choose_backend(env: Mapping[str, str] | None = None) -> Any:
    """The keyring backend instance for this OS, checked usable. Raises :class:`CredentialsUnavailable`."""
    env = os.environ if env is None else env
    try:
        import keyring.core
    except ImportError as exc:  # pragma: no cover - keyring is a pinned runtime dependency
        raise CredentialsUnavailable(f"the keyring library is missing: {exc}") from None
    name = env.get("PYTHON_KEYRING_BACKEND", "").strip()
    backend: Any
    if name:
        try:
            backend = keyring.core.load_keyring(name)
        except Exception as exc:  # keyring raises ImportError/AttributeError/ValueError for bad names
            raise CredentialsUnavailable(f"PYTHON_KEYRING_BACKEND={name}: {exc}") from None
    elif sys.platform == "win32":
        try:
            from keyring.backends.Windows import WinVaultKeyring
        except ImportError as exc:
            raise CredentialsUnavailable(f"Windows Credential Manager backend cannot load: {exc}") from None
        backend = _instantiate(WinVaultKeyring)
    else:
        from keyring.backends import SecretService

        backend = _instantiate(SecretService.Keyring)
    qualname = _qualname(backend)
    if qualname in REFUSED_BACKENDS:
        raise CredentialsUnavailable(f"backend {qualname} does not keep passwords safely")
    try:
        # keyring backends report "not usable here" by raising from the `priority` class property.
        type(backend).priority  # noqa: B018
    except Exception as exc:
        raise CredentialsUnavailable(str(exc)) from None
    return backend


class KeyringStore:
    """:class:`agent.adapters.credentials_api.CredentialStore` over one keyring backend instance."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    @classmethod
    def open(cls, env: Mapping[str, str] | None = None) -> KeyringStore:
        """The store on :func:`choose_backend`'s backend. Raises :class:`CredentialsUnavailable`."""
        return cls(choose_backend(env))

    def __repr__(self) -> str:
        return f"KeyringStore({_qualname(self._backend)})"

    @property
    def backend_name(self) -> str:
        qualname = _qualname(self._backend)
        friendly = next((v for k, v in _FRIENDLY.items() if k in qualname), None)
        return friendly or str(getattr(self._backend, "name", "") or type(self._backend).__name__)

    def get(self, account: str) -> str | None:
        try:
            value = self._backend.get_password(CREDENTIAL_SERVICE, account)
        except Exception as exc:  # KeyringError, D-Bus errors, locked collections...
            raise _classify(exc) from None
        return None if value is None else str(value)

    def set(self, account: str, password: str) -> None:
        try:
            self._backend.set_password(CREDENTIAL_SERVICE, account, password)
        except Exception as exc:
            raise _classify(exc) from None

    def delete(self, account: str) -> bool:
        try:
            if self._backend.get_password(CREDENTIAL_SERVICE, account) is None:
                return False
            self._backend.delete_password(CREDENTIAL_SERVICE, account)
        except Exception as exc:
            raise _classify(exc) from None
        return True

    def is_locked(self) -> bool | None:
        """Secret Service: the ``Locked`` property of the collection keyring reads (its ``preferred_collection``,
        else the ``default`` alias), read without an unlock prompt; None for other backends or when that collection
        does not exist (keyring would then try to create it). Blocks on D-Bus (seconds at worst). Any thread."""
        if not type(self._backend).__module__.startswith("keyring.backends.SecretService"):
            return None
        try:
            import secretstorage
            from secretstorage.collection import DEFAULT_COLLECTION
            from secretstorage.exceptions import ItemNotFoundException

            bus = secretstorage.dbus_init()
            try:
                path = getattr(self._backend, "preferred_collection", None) or DEFAULT_COLLECTION
                try:
                    collection = secretstorage.Collection(bus, path)
                except ItemNotFoundException:
                    return None
                return bool(collection.is_locked())
            finally:
                bus.close()
        except Exception as exc:
            raise _classify(exc) from None


def _detail(exc: BaseException) -> str:
    """Exception type and text; backends never put the secret in their messages (the password is not an arg)."""
    return f"{type(exc).__name__}: {exc}"


def _classify(exc: BaseException) -> CredentialsError:
    """keyring / SecretStorage / D-Bus failures as the port's errors: locked (keyring's ``KeyringLocked``: the
    unlock prompt was dismissed or could not be shown; ``InitError``: no default collection and its creation prompt
    failed), unavailable (the Secret Service or the bus went away), else a plain :class:`CredentialsError`."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"KeyringLocked", "InitError", "LockedException", "PromptDismissedException"}:
        return CredentialsLocked(_detail(exc))
    if names & {"SecretServiceNotAvailableException", "NoKeyringError", "OSError"}:
        return CredentialsUnavailable(_detail(exc))
    if "ServiceUnknown" in str(exc) or "NoReply" in str(exc):
        return CredentialsUnavailable(_detail(exc))
    return CredentialsError(_detail(exc))
