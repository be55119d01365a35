"""A keyring backend for tests (not product code) that stands for a locked Secret Service collection whose unlock
prompt nobody answers: ``get_password`` blocks until the process ends (keyring has no timeout). Selected in a
child process with ``PYTHON_KEYRING_BACKEND=blocking_keyring.BlockingKeyring`` and ``tests/`` on PYTHONPATH."""

from __future__ import annotations

import threading

from keyring.backend import KeyringBackend


class BlockingKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        threading.Event().wait()  # the unlock prompt never answered
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError
