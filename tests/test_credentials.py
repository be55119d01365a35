"""Credentials in a real Secret Service (gnome-keyring on a private D-Bus session): where the password is stored
(read back with SecretStorage, and from a second process), and the refusals. What every store must do (round
trips, separate accounts, delete, no secret in repr) is the contract in tests/test_contract_credentials.py, run
against the Secret Service, the memory twin and (on Windows) the Credential Manager."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import secret_service

from agent.adapters import choose
from agent.adapters.choose import credential_store as open_store
from agent.adapters.credentials_api import CredentialsUnavailable
from agent.adapters.credentials_keyring import KeyringStore, choose_backend
from agent.core import config

linux_only = pytest.mark.skipif(sys.platform == "win32", reason="Secret Service (Linux)")
ACCOUNT_A = config.credential_account(config.ConnectionSettings(host="10.0.0.5"))
ACCOUNT_B = config.credential_account(config.ConnectionSettings(host="10.0.0.6", database="otra_db"))


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This process pointed at a fresh, unlocked gnome-keyring."""
    with secret_service(tmp_path) as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
        monkeypatch.delenv(choose.ENV_CREDENTIALS, raising=False)
        yield env


def _items_in_secret_service(account: str) -> list[tuple[dict[str, str], bytes]]:
    """Read the collection directly with SecretStorage (not through our code): attributes and secret."""
    import secretstorage

    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        found = collection.search_items({"service": config.CREDENTIAL_SERVICE, "username": account})
        return [(item.get_attributes(), item.get_secret()) for item in found]
    finally:
        conn.close()


@linux_only
def test_round_trip_in_the_secret_service(session: dict[str, str]) -> None:
    store = open_store()
    assert isinstance(store, KeyringStore)
    assert "Secret Service" in store.backend_name
    assert store.get(ACCOUNT_A) is None
    store.set(ACCOUNT_A, "contraseña-á")
    assert store.get(ACCOUNT_A) == "contraseña-á"
    # really stored by gnome-keyring, under the documented service and account
    items = _items_in_secret_service(ACCOUNT_A)
    assert len(items) == 1
    assert items[0][0]["service"] == "AvisoEntradas"
    assert items[0][1] == "contraseña-á".encode()
    # a second process (new D-Bus connection) sees it
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from agent.adapters.choose import credential_store as c; import sys; print(c().get(sys.argv[1]))",
            ACCOUNT_A,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "contraseña-á"
    assert store.delete(ACCOUNT_A) is True
    assert store.delete(ACCOUNT_A) is False
    assert store.get(ACCOUNT_A) is None
    assert _items_in_secret_service(ACCOUNT_A) == []


@linux_only
def test_no_session_bus_is_a_clear_unavailable_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no bus socket there either
    with pytest.raises(CredentialsUnavailable) as err:
        open_store({})
    assert "SecretService" in err.value.detail or "Secret Service" in err.value.detail


@pytest.mark.parametrize(
    "backend", ["keyring.backends.fail.Keyring", "keyring.backends.null.Keyring", "no.such.Backend"]
)
def test_unsafe_or_unknown_backends_are_refused(backend: str) -> None:
    with pytest.raises(CredentialsUnavailable) as err:
        choose_backend({"PYTHON_KEYRING_BACKEND": backend})
    assert backend.rsplit(".", 1)[0] in err.value.detail or backend in err.value.detail


@linux_only
def test_explicit_backend_variable_is_honoured(session: dict[str, str]) -> None:
    backend = choose_backend({"PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"})
    assert type(backend).__module__ == "keyring.backends.SecretService"
