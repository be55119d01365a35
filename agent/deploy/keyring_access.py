"""Keyring access that never blocks its caller for longer than a bound (default 5 s).

Why: a locked Secret Service collection makes ``keyring.get_password`` wait for the unlock prompt with no timeout
of its own (and ``set_password`` too), so every call runs on a daemon worker thread and the caller waits at most
``timeout_s``. After the bound the store is asked, without prompting and within 1 s, whether it is locked
(:class:`~agent.deploy.connection_errors.KeyringLocked`) or just not answering
(:class:`~agent.deploy.connection_errors.KeyringTimedOut`). Reads are single-flight per account: a later call waits
for the same worker, so retries never pile up threads (the lock probe is single-flight too: a hung service hangs it
as well), and once the person unlocks the keyring that read completes and the next call gets the password (unless
this process wrote that account since: a write drops the parked answer, so a late old password never hides a new
one). The store is opened on the worker too (opening D-Bus can hang as well). ``open_keyring``/``store_password``/
``forget_password`` start one worker per call (one-shot commands; a long-running caller should not retry them
against a hung service in a loop).

Which thread: any. Workers are daemon threads named ``keyring-read`` / ``keyring-call`` / ``keyring-lock-probe``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from agent.adapters.credentials_api import (
    CredentialsError,
    CredentialsLocked,
    CredentialsTimedOut,
    CredentialStore,
    CredentialsUnavailable,
)
from agent.deploy.connection_errors import (
    KeyringFailed,
    KeyringLocked,
    KeyringProblem,
    KeyringTimedOut,
    KeyringUnreachable,
)

_T = TypeVar("_T")

DEFAULT_TIMEOUT_S = 5.0
"""How long a keyring call may take before it is reported (seconds)."""
LOCK_PROBE_TIMEOUT_S = 1.0


@dataclass
class _Read:
    """One keyring read in flight (worker thread -> callers). ``store`` is set once opened."""

    done: threading.Event = field(default_factory=threading.Event)
    store: CredentialStore | None = None
    value: str | None = None
    error: CredentialsError | None = None


@dataclass
class _Probe:
    """One "is the store locked?" question in flight (probe thread -> callers)."""

    done: threading.Event = field(default_factory=threading.Event)
    locked: bool | None = None


_reads: dict[str, _Read] = {}
_probe: _Probe | None = None
_reads_lock = threading.Lock()  # guards _reads and _probe


def _default_open_store() -> CredentialStore:
    from agent.adapters.choose import credential_store  # the one credentials chooser

    return credential_store()


def read_keyring_password(
    account: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    open_store: Callable[[], CredentialStore] | None = None,
) -> str | None:
    """The password stored for ``account`` in the OS keyring, or None when none is stored, within ``timeout_s``.

    Raises :class:`KeyringUnreachable`, :class:`KeyringLocked`, :class:`KeyringTimedOut`, :class:`KeyringFailed`.
    ``open_store`` (default: the credentials chooser) runs in the worker too (opening D-Bus can hang as well).
    Any thread; see the module docstring for the single-flight rule.
    """
    with _reads_lock:
        read = _reads.get(account)
        if read is not None and read.done.is_set() and read.error is not None:
            read = None  # a finished failure is not reused: try again
        if read is None:
            read = _Read()
            _reads[account] = read
            worker = threading.Thread(
                target=_run_read,
                args=(account, read, open_store or _default_open_store),
                name="keyring-read",
                daemon=True,  # a read stuck on an unlock prompt must not keep the process alive
            )
            worker.start()
    if not read.done.wait(max(0.0, timeout_s)):
        raise _timed_out(read.store, timeout_s)
    with _reads_lock:
        if _reads.get(account) is read:
            del _reads[account]
    if read.error is not None:
        raise _problem(read.error)
    return read.value


def reads_in_flight() -> int:
    """How many keyring reads are still waiting on the store (tests, diagnostics)."""
    with _reads_lock:
        return sum(1 for r in _reads.values() if not r.done.is_set())


def _run_read(account: str, read: _Read, open_store: Callable[[], CredentialStore]) -> None:
    """Worker body: the one exception barrier of the keyring read."""
    try:
        read.store = open_store()
        read.value = read.store.get(account)
    except CredentialsError as exc:
        read.error = exc
    except BaseException as exc:  # a backend bug (even SystemExit) must not pass for "nothing stored"
        read.error = CredentialsError(f"{type(exc).__name__}: {exc}")
    finally:
        read.done.set()


def open_keyring(
    timeout_s: float = DEFAULT_TIMEOUT_S, *, open_store: Callable[[], CredentialStore] | None = None
) -> CredentialStore:
    """The OS keyring store (the credentials chooser), opened within ``timeout_s``. Raises
    :class:`KeyringProblem` subclasses (no Secret Service / no session bus: :class:`KeyringUnreachable`)."""
    return _bounded(open_store or _default_open_store, timeout_s, None)


def store_password(store: CredentialStore, account: str, password: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """``store.set(account, password)`` within ``timeout_s`` (a locked collection prompts, and waits, here too).
    Any read of ``account`` parked or in flight is dropped (:func:`_drop_read`). Raises :class:`KeyringProblem`
    subclasses."""
    try:
        _bounded(lambda: store.set(account, password), timeout_s, store)
    finally:
        _drop_read(account)


def forget_password(store: CredentialStore, account: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """``store.delete(account)`` within ``timeout_s``; False when nothing was stored. Any read of ``account``
    parked or in flight is dropped. Raises :class:`KeyringProblem` subclasses."""
    try:
        return _bounded(lambda: store.delete(account), timeout_s, store)
    finally:
        _drop_read(account)


def _drop_read(account: str) -> None:
    """Forget the single-flight read of ``account``: after a write, a late answer that finished (or will finish)
    with the old value must not be handed to the next caller; the next call starts a fresh read."""
    with _reads_lock:
        _reads.pop(account, None)


def _bounded(call: Callable[[], _T], timeout_s: float, store: CredentialStore | None) -> _T:
    """``call()`` on a daemon worker, waited for at most ``timeout_s``; the worker's one exception barrier maps
    every failure to a :class:`CredentialsError`, re-raised here as a :class:`KeyringProblem`."""
    box: list[_T] = []
    errors: list[CredentialsError] = []
    done = threading.Event()

    def work() -> None:
        try:
            box.append(call())
        except CredentialsError as exc:
            errors.append(exc)
        except BaseException as exc:  # even SystemExit: the caller must get an error, not an empty box
            errors.append(CredentialsError(f"{type(exc).__name__}: {exc}"))
        finally:
            done.set()

    threading.Thread(target=work, name="keyring-call", daemon=True).start()
    if not done.wait(max(0.0, timeout_s)):
        raise _timed_out(store, timeout_s)
    if errors:
        raise _problem(errors[0])
    return box[0]


def _timed_out(store: CredentialStore | None, timeout_s: float) -> KeyringProblem:
    """After the bound: ask the store (itself bounded, no prompt) whether it is locked. The probe is single-flight
    too: a hung service hangs the probe's D-Bus call as well, and a retry must join it, not start another."""
    global _probe
    if store is None:
        return KeyringTimedOut(timeout_s)
    with _reads_lock:
        probe = _probe
        if probe is None or probe.done.is_set():
            probe = _probe = _Probe()
            threading.Thread(target=_run_probe, args=(store, probe), name="keyring-lock-probe", daemon=True).start()
    probe.done.wait(LOCK_PROBE_TIMEOUT_S)
    if probe.locked:
        return KeyringLocked(f"still waiting for the unlock prompt after {timeout_s:g} s")
    return KeyringTimedOut(timeout_s)


def _run_probe(store: CredentialStore, probe: _Probe) -> None:
    """Probe worker body (its one exception barrier): any failure means "cannot tell"."""
    try:
        probe.locked = store.is_locked()
    except Exception:
        probe.locked = None
    finally:
        probe.done.set()


def _problem(exc: CredentialsError) -> KeyringProblem:
    if isinstance(exc, CredentialsUnavailable):
        return KeyringUnreachable(exc.detail)
    if isinstance(exc, CredentialsLocked):
        return KeyringLocked(exc.detail)
    if isinstance(exc, CredentialsTimedOut):
        return KeyringTimedOut(DEFAULT_TIMEOUT_S)
    return KeyringFailed(exc.detail)
