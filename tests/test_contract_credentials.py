"""One contract for the credentials port (:class:`agent.adapters.credentials_api.CredentialStore`), run against
every store that can run here: the OS keyring adapter over a real Secret Service (gnome-keyring on a private
D-Bus session, as ``tests/test_credentials.py`` starts it) and the in-process memory twin. The Windows Credential
Manager runs the same class under Windows only. keyring's own ``BackendBasicTests`` is the model."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from deploy_support import secret_service

from agent.adapters import choose
from agent.adapters.credentials_api import CredentialStore
from agent.adapters.credentials_keyring import KeyringStore
from agent.adapters.credentials_memory import MemoryStore

ACCOUNT = "pos_user@10.0.0.5:5432/torniquete_db"
OTHER = "pos_user@10.0.0.6:5432/otra_db"
SECRET = "contraseña-ñ-€-😀 ' \" $(x) ; \\"


class CredentialStoreContract:
    """Subclasses provide the ``store`` fixture (empty for :data:`ACCOUNT` and :data:`OTHER`)."""

    def test_a_missing_password_is_none(self, store: CredentialStore) -> None:
        assert store.get(ACCOUNT) is None

    def test_round_trip_keeps_every_character(self, store: CredentialStore) -> None:
        store.set(ACCOUNT, SECRET)
        assert store.get(ACCOUNT) == SECRET

    def test_set_replaces(self, store: CredentialStore) -> None:
        store.set(ACCOUNT, "uno")
        store.set(ACCOUNT, "dos")
        assert store.get(ACCOUNT) == "dos"

    def test_accounts_are_separate(self, store: CredentialStore) -> None:
        store.set(ACCOUNT, "uno")
        store.set(OTHER, "dos")
        assert (store.get(ACCOUNT), store.get(OTHER)) == ("uno", "dos")

    def test_delete_says_whether_there_was_one(self, store: CredentialStore) -> None:
        store.set(ACCOUNT, "uno")
        assert store.delete(ACCOUNT) is True
        assert store.delete(ACCOUNT) is False
        assert store.get(ACCOUNT) is None

    def test_the_password_is_never_in_repr_or_name(self, store: CredentialStore) -> None:
        store.set(ACCOUNT, "s3cr3t-value")
        assert "s3cr3t" not in repr(store)
        assert "s3cr3t" not in store.backend_name
        assert store.backend_name


@pytest.mark.skipif(sys.platform == "win32", reason="Secret Service (Linux)")
class TestSecretService(CredentialStoreContract):
    @pytest.fixture(scope="class")
    def keyring_env(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        with secret_service(tmp_path_factory.mktemp("keyring")) as env, pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            mp.delenv("PYTHON_KEYRING_BACKEND", raising=False)
            mp.delenv(choose.ENV_CREDENTIALS, raising=False)
            yield

    @pytest.fixture
    def store(self, keyring_env: None) -> Iterator[CredentialStore]:
        chosen = choose.credential_store()
        assert isinstance(chosen, KeyringStore)
        yield chosen
        chosen.delete(ACCOUNT)
        chosen.delete(OTHER)


class TestMemoryTwin(CredentialStoreContract):
    @pytest.fixture
    def store(self) -> CredentialStore:
        chosen = choose.credential_store({choose.ENV_CREDENTIALS: "memory"})
        assert isinstance(chosen, MemoryStore)
        return chosen


@pytest.mark.skipif(sys.platform != "win32", reason="Windows Credential Manager")
class TestWindowsCredentialManager(CredentialStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[CredentialStore]:
        chosen = choose.credential_store({})
        yield chosen
        chosen.delete(ACCOUNT)
        chosen.delete(OTHER)
