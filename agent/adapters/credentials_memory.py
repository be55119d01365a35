"""In-process credential store: the null/fake twin of the OS keyring for tests (``AVISO_CREDENTIALS=memory``).

Nothing is persisted; a new process starts empty. Which thread: any, one call at a time.
"""

from __future__ import annotations


class MemoryStore:
    """Dictionary-backed :class:`agent.adapters.credentials_api.CredentialStore`."""

    backend_name = "memory (tests only; nothing is saved)"

    def __init__(self) -> None:
        self._passwords: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(accounts={sorted(self._passwords)!r})"

    def get(self, account: str) -> str | None:
        return self._passwords.get(account)

    def set(self, account: str, password: str) -> None:
        self._passwords[account] = password

    def delete(self, account: str) -> bool:
        return self._passwords.pop(account, None) is not None

    def is_locked(self) -> bool | None:
        return False
