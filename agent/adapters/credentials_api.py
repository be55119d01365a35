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
        """Where the password goes, for people: ``Windows Credential Manager``, ``GNOME Keyring / Secret Service``
        (no internal class names)."""
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

    def is_locked(self) -> bool | None:
        """Whether the store is locked right now, asked without prompting (Secret Service: the collection's
        ``Locked`` property); None when the store has no such notion or cannot tell. May block on D-Bus: callers
        bound it (:mod:`agent.deploy.connection`). Raises :class:`CredentialsError`."""
        ...


class CredentialsError(RuntimeError):
    """The keyring refused an operation. ``detail`` is the backend's text (never contains the password)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CredentialsUnavailable(CredentialsError):
    """No usable keyring backend on this machine ("sin llavero": e.g. no Secret Service on the session bus, no
    session bus at all). ``detail`` says why; the CLI adds how to fix it."""


class CredentialsLocked(CredentialsError):
    """The keyring is there but locked ("llavero bloqueado"): its unlock prompt was dismissed, cannot be shown,
    or is still waiting for the person (then keyring's read blocks; see :mod:`agent.deploy.connection`)."""


class CredentialsTimedOut(CredentialsError):
    """The keyring did not answer within the time bound, and it did not say it was locked."""
