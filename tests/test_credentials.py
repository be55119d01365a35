"""Credentials in a real Secret Service (gnome-keyring on a private D-Bus session): where the password is stored
(read back with SecretStorage, and from a second process), and the refusals. What every store must do (round
trips, separate accounts, delete, no secret in repr) is the contract in tests/test_contract_credentials.py, run
against the Secret Service, the memory twin and (on Windows) the Credential Manager."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
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


# ---------------------------------------------------------------------------------------------------------------
# Reads through the connection path (agent.deploy.connection): bounded, and locked / unreachable / none told apart.
# Each case runs a REAL gnome-keyring-daemon on a private D-Bus session (tests/deploy_support.py).


def _point_at(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.delenv(choose.ENV_CREDENTIALS, raising=False)


@linux_only
def test_unlocked_keyring_gives_the_password_to_resolve(session: dict[str, str]) -> None:
    from agent.deploy.connection import read_keyring_password, resolve

    settings = config.ConnectionSettings(host="10.0.0.5")
    open_store().set(ACCOUNT_A, "desde-el-llavero")
    assert open_store().is_locked() is False
    started = time.monotonic()
    params = resolve(settings)
    assert time.monotonic() - started < 5
    assert params.password == "desde-el-llavero" and params.password_source == "keyring"
    assert params.password_problem is None and params.account == ACCOUNT_A
    assert "desde-el-llavero" not in repr(params)
    assert read_keyring_password(ACCOUNT_B) is None  # nothing stored is not an error of the keyring
    assert resolve(config.ConnectionSettings(host="10.0.0.6", database="otra_db")).password_problem is not None


@linux_only
def test_locked_keyring_with_an_unlock_prompt_times_out_and_says_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The login collection is locked and gnome-keyring shows its unlock prompt on a (virtual) display, where
    nobody answers: keyring's read blocks for ever (platform facts). Ours returns within the bound, says locked,
    and a second read joins the same worker instead of starting another one."""
    from deploy_support import LOCKED_ITEM, show_prompts_on, xvfb_display

    from agent.deploy.connection import KeyringLocked, read_keyring_password, reads_in_flight, resolve

    with xvfb_display("AVISO_REQUIRE_DEPLOY_TOOLS") as display, secret_service(tmp_path, locked=True) as env:
        _point_at(env, monkeypatch)
        show_prompts_on(env, display)
        account = LOCKED_ITEM[1]
        started = time.monotonic()
        with pytest.raises(KeyringLocked) as err:
            read_keyring_password(account, timeout_s=2.0)
        elapsed = time.monotonic() - started
        assert 2.0 <= elapsed < 2.0 + 1.5, elapsed  # the bound, plus at most the 1 s lock probe
        assert "unlock prompt" in str(err.value)
        assert err.value.state("es") == "llavero bloqueado"
        assert "Llavero bloqueado" in err.value.message("es") and "Keyring locked" in err.value.message("en")
        assert reads_in_flight() == 1
        params = resolve(config.ConnectionSettings(host="10.9.8.7"), timeout_s=1.0)
        assert isinstance(params.password_problem, KeyringLocked) and params.password is None
        assert reads_in_flight() == 1  # the retry waited for the same read: no pile-up of blocked threads
        assert sum(t.name == "keyring-read" for t in threading.enumerate()) == 1


@linux_only
def test_locked_keyring_without_a_prompter_says_locked_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No display for the prompt (an SSH session): gnome-keyring dismisses it and keyring raises KeyringLocked."""
    from deploy_support import LOCKED_ITEM

    from agent.deploy.connection import KeyringLocked, read_keyring_password

    with secret_service(tmp_path, locked=True) as env:
        _point_at(env, monkeypatch)
        monkeypatch.delenv("DISPLAY", raising=False)
        assert open_store().is_locked() is True  # asked without a prompt (the collection's Locked property)
        started = time.monotonic()
        with pytest.raises(KeyringLocked):  # any account: the collection must be unlocked to search it
            read_keyring_password("cuenta-sin-prompter@" + LOCKED_ITEM[1], timeout_s=5.0)
        assert time.monotonic() - started < 5.0


@linux_only
def test_no_secret_service_on_the_bus_says_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.deploy.connection import KeyringUnreachable, open_keyring, read_keyring_password, resolve

    with secret_service(tmp_path, keyring=False) as env:
        _point_at(env, monkeypatch)
        with pytest.raises(KeyringUnreachable) as err:
            read_keyring_password(ACCOUNT_A)
        assert err.value.state("es") == "sin llavero"
        message = err.value.message("en")
        assert "No usable system password store" in message and "dbus-run-session" in message
        assert "gnome-keyring-daemon --unlock" in message
        with pytest.raises(KeyringUnreachable):
            open_keyring()
        params = resolve(config.ConnectionSettings(host="10.0.0.5"))
        assert isinstance(params.password_problem, KeyringUnreachable)  # not "no password saved"


@linux_only
def test_listen_with_a_locked_keyring_exits_4_within_the_bound(tmp_path: Path) -> None:
    """`listen` without --dsn on a locked keyring (prompt on screen, nobody there): a sentence, exit 4, in time."""
    from deploy_support import show_prompts_on, xvfb_display

    with xvfb_display("AVISO_REQUIRE_DEPLOY_TOOLS") as display, secret_service(tmp_path, locked=True) as env:
        show_prompts_on(env, display)
        machine = tmp_path / "machine.toml"
        machine.write_text('[connection]\nhost = "10.9.8.7"\n', encoding="utf-8")
        run_env = {k: v for k, v in os.environ.items() if not k.startswith(("AVISO_", "PG", "PYTHON_KEYRING"))}
        run_env.update(env, AVISO_MACHINE_CONFIG_FILE=str(machine), AVISO_LANG="en")
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "agent", "listen", "--timeout", "30"],
            capture_output=True,
            text=True,
            env=run_env,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert out.returncode == 4, out.stderr
    assert "Keyring locked" in out.stderr and "exit code 4" in out.stderr
    assert "Traceback" not in out.stderr and "SecretService" not in out.stderr
    assert elapsed < 5.0 + 1.0 + 5.0, elapsed  # bound + probe + interpreter start-up


def test_no_password_stored_is_not_a_keyring_failure() -> None:
    from agent.deploy.connection import KeyringProblem, NoPasswordStored, resolve

    params = resolve(config.ConnectionSettings(), read_password=lambda _account, _timeout: None)
    assert isinstance(params.password_problem, NoPasswordStored)
    assert not isinstance(params.password_problem, KeyringProblem)
    with pytest.raises(NoPasswordStored):
        params.require_password()


@linux_only
def test_a_hung_keyring_service_times_out_and_says_so(session: dict[str, str]) -> None:
    """gnome-keyring stopped with SIGSTOP (a hung service, neither locked nor gone): the read gives up at the bound
    and, since the lock probe gets no answer either, reports "not answering", not "locked" and not "no password"."""
    import signal

    from deploy_support import secrets_daemon_pid

    from agent.deploy.connection import KeyringTimedOut, read_keyring_password

    open_store().set(ACCOUNT_A, "uno")
    pid = secrets_daemon_pid(session)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(KeyringTimedOut) as err:
            read_keyring_password(ACCOUNT_A, timeout_s=1.5)
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert 1.5 <= elapsed < 1.5 + 1.5, elapsed
    assert err.value.state("es") == "llavero sin respuesta" and "1.5 s" in err.value.message("en")
    assert read_keyring_password(ACCOUNT_A, timeout_s=5.0) == "uno"  # the same read, answered once resumed


def _late_answer(pid: int, account: str) -> None:
    """Stop gnome-keyring (``pid``) so a read of ``account`` times out, resume it, and wait until that read has
    finished in the background (its late answer parked for the next call)."""
    import signal

    from agent.deploy.connection import KeyringTimedOut, read_keyring_password, reads_in_flight

    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(KeyringTimedOut):
            read_keyring_password(account, timeout_s=1.0)
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while reads_in_flight() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reads_in_flight() == 0


@linux_only
def test_a_late_answer_never_hides_a_password_saved_since(session: dict[str, str]) -> None:
    """A read that timed out (hung service) completes later with the *old* password and stays parked for "the
    next call". If this process then saves a new password (store_password / forget_password), the next read must
    return the new one, not the parked late answer (else it connects with the old password and fails)."""
    from deploy_support import secrets_daemon_pid

    from agent.deploy.connection import forget_password, read_keyring_password, store_password

    open_store().set(ACCOUNT_A, "uno")
    pid = secrets_daemon_pid(session)
    _late_answer(pid, ACCOUNT_A)  # "uno" parked
    store_password(open_store(), ACCOUNT_A, "dos")
    assert read_keyring_password(ACCOUNT_A, timeout_s=5.0) == "dos"
    _late_answer(pid, ACCOUNT_A)  # "dos" parked
    assert forget_password(open_store(), ACCOUNT_A) is True
    assert read_keyring_password(ACCOUNT_A, timeout_s=5.0) is None  # forgotten means forgotten


@linux_only
def test_retries_against_a_hung_keyring_do_not_pile_up_threads(session: dict[str, str]) -> None:
    """The tray retries every few seconds while gnome-keyring hangs (SIGSTOP): each timed-out read asks the store
    whether it is locked, and that probe hangs on D-Bus too. At most one probe may be waiting at a time, or an
    hour of retries leaves hundreds of threads (each with its own D-Bus connection)."""
    import signal

    from deploy_support import secrets_daemon_pid

    from agent.deploy.connection import KeyringTimedOut, read_keyring_password

    open_store().set(ACCOUNT_A, "uno")
    pid = secrets_daemon_pid(session)
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(6):
            with pytest.raises(KeyringTimedOut):
                read_keyring_password(ACCOUNT_A, timeout_s=0.2)
        names = [t.name for t in threading.enumerate()]
        assert names.count("keyring-read") == 1
        assert names.count("keyring-lock-probe") <= 1, names
    finally:
        os.kill(pid, signal.SIGCONT)
    assert read_keyring_password(ACCOUNT_A, timeout_s=5.0) == "uno"


class _ExitingStore:
    """A backend that ends its call with a BaseException (a D-Bus library calling sys.exit, a GeneratorExit...):
    the kind of odd failure only a fake at the OS boundary can stage on demand."""

    backend_name = "exiting"

    def get(self, account: str) -> str | None:
        raise SystemExit(3)

    def set(self, account: str, password: str) -> None:
        raise SystemExit(3)

    def delete(self, account: str) -> bool:
        raise SystemExit(3)

    def is_locked(self) -> bool | None:
        return None


def test_a_backend_ending_with_a_base_exception_is_a_keyring_failure_not_no_password() -> None:
    """The worker's barrier caught only Exception: a SystemExit in the backend ended the worker with neither value
    nor error, and the caller reported "no password stored" (run configure) instead of a keyring failure."""
    from agent.deploy.connection import KeyringFailed, read_keyring_password, store_password

    with pytest.raises(KeyringFailed) as err:
        read_keyring_password("odd@backend", timeout_s=2.0, open_store=_ExitingStore)
    assert "SystemExit" in str(err.value)
    with pytest.raises(KeyringFailed):
        store_password(_ExitingStore(), "odd@backend", "x", timeout_s=2.0)
