"""Credentials port: the database password lives only in the OS keyring. Protocol, errors and the start-up choice.

Keyring entry (documented for IT): service :data:`agent.core.config.CREDENTIAL_SERVICE` (``AvisoEntradas``),
username :func:`agent.core.config.credential_account` (``pos_user@192.168.1.50:5432/torniquete_db``), so two
turnstile databases keep separate passwords. On Windows that is the Windows Credential Manager ("Windows
Credentials", generic credential ``AvisoEntradas`` or ``<account>@AvisoEntradas`` when several exist, as keyring's
WinVault backend names them); on Linux the Secret Service (GNOME Keyring, KWallet 5.97+).

Implementations: :mod:`agent.adapters.credentials_keyring` (the OS keyring) and
:mod:`agent.adapters.credentials_memory` (in-process twin for tests), picked by
:func:`agent.adapters.choose.credential_store` (``AVISO_CREDENTIALS=keyring|memory`` overrides the choice). This
module holds only the protocol and the errors. Passwords never appear in ``repr``, logs or exception messages.
"""

from __future__ import annotations

from typing import Protocol


class CredentialStore(Protocol):
    """Get/set/delete one password per account. Which thread: any, one call at a time (not thread-safe)."""

    @property
    def backend_name(self) -> str:
        """Human-readable backend, e.g. ``Windows Credential Manager (keyring WinVaultKeyring)``."""
        ...

    def get(self, account: str) -> str | None:
        """The stored password, or None when there is none. Raises :class:`CredentialsError`."""
        ...

    def set(self, account: str, password: str) -> None:
        """Store (or replace) the password. Raises :class:`CredentialsError`."""
        ...

    def delete(self, account: str) -> bool:
        """Remove the password; False when there was none. Raises :class:`CredentialsError`."""
        ...


class CredentialsError(RuntimeError):
    """The keyring refused an operation. ``detail`` is the backend's text (never contains the password)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CredentialsUnavailable(CredentialsError):
    """No usable keyring backend on this machine. ``detail`` says why; the CLI adds how to fix it."""
