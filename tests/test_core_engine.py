"""Pure core of the listener: backoff, state machine, payload parsing, ledger. No clock, no database."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.core.advice import Problem
from agent.core.backoff import Backoff
from agent.core.events import ConnState
from agent.core.ledger import Ledger
from agent.core.payload import PayloadError, parse
from agent.core.state import ConnectionMachine, TransitionError

T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


# -- backoff ---------------------------------------------------------------------------------------------------
def test_backoff_grows_exponentially_within_jitter_and_caps() -> None:
    b = Backoff(base_s=0.5, factor=2, cap_s=30, jitter=0.5, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(12)]
    for n, d in enumerate(delays):
        raw = min(30, 0.5 * 2**n)
        assert raw * 0.5 <= d <= raw
    assert max(delays) <= 30
    assert delays[-1] >= 15  # capped, still trying


def test_backoff_never_gives_up_and_never_overflows() -> None:
    b = Backoff(rng=random.Random(2))
    for _ in range(10_000):
        d = b.next_delay()
    assert 0 < d <= 30


def test_backoff_reset_and_retry_at_use_the_given_clock() -> None:
    b = Backoff(base_s=1, cap_s=8, jitter=0, rng=random.Random(3))
    assert b.retry_at(100.0) == 101.0
    assert b.retry_at(100.0) == 102.0
    b.reset()
    assert b.retry_at(5.0) == 6.0


def test_backoff_jitter_spreads_a_fleet() -> None:
    first = {round(Backoff(rng=random.Random(seed)).next_delay(), 4) for seed in range(50)}
    assert len(first) > 40


@pytest.mark.parametrize("kwargs", [{"base_s": 0}, {"cap_s": 0.1}, {"factor": 0.5}, {"jitter": 2}])
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**kwargs)


# -- state machine ---------------------------------------------------------------------------------------------
def test_state_machine_cycle_with_backoff_and_reset_on_success() -> None:
    m = ConnectionMachine(Backoff(base_s=1, cap_s=30, jitter=0, rng=random.Random(0)))
    assert m.state is ConnState.CONNECTING
    assert m.failed(10.0, Problem.REFUSED, "refused") == 1
    assert m.state is ConnState.BACKING_OFF and m.problem is Problem.REFUSED and m.retry_at == 11.0
    assert not m.due(10.9) and m.due(11.0)
    m.retry(11.0)
    assert m.failed(11.0, Problem.TIMEOUT) == 2
    m.retry(13.0)
    m.connected(13.1)
    assert m.state is ConnState.LISTENING and m.problem is None
    assert m.failed(50.0, Problem.CONNECTION_LOST) == 1  # backoff was reset by the success


def test_state_machine_auth_failure_retries_slowly() -> None:
    m = ConnectionMachine(Backoff(base_s=1, jitter=0, rng=random.Random(0)), auth_retry_s=60)
    assert m.failed(0.0, Problem.AUTH_FAILED, "password authentication failed") == 60
    assert m.state is ConnState.AUTH_FAILED
    assert not m.due(59.9) and m.due(60.0)


def test_state_machine_reconnect_now_resets_backoff_and_stop_is_final() -> None:
    m = ConnectionMachine(Backoff(base_s=1, jitter=0, rng=random.Random(0)))
    for t in range(5):
        m.failed(float(t), Problem.REFUSED)
        m.retry(float(t))
    m.failed(10.0, Problem.REFUSED)
    m.reconnect_now(10.5)
    assert m.state is ConnState.CONNECTING and m.retry_at is None and m.backoff.attempt == 0
    m.stop()
    m.reconnect_now(11.0)
    assert m.state is ConnState.STOPPED
    with pytest.raises(TransitionError):
        m.connected(12.0)


def test_state_machine_rejects_impossible_inputs() -> None:
    m = ConnectionMachine()
    with pytest.raises(TransitionError):
        m.retry(0.0)
    m.connected(0.0)
    with pytest.raises(TransitionError):
        m.connected(1.0)


# -- payload ---------------------------------------------------------------------------------------------------
def _payload(**overrides: object) -> str:
    body: dict[str, object] = {
        "v": 1,
        "id_entrada": 42,
        "id_miembro": 7,
        "fecha_hora": "2026-11-30T08:00:00+00:00",
        "miembro": {"nombre": "Íñigo", "apellido": "Zúñiga"},
    }
    body.update(overrides)
    return json.dumps(body)


def test_parse_valid_payload() -> None:
    h = parse(_payload())
    assert (h.entry_id, h.version, h.truncated, h.warning) == (42, 1, False, "")


def test_parse_truncated_and_unknown_version_are_hints_with_warnings() -> None:
    h = parse(json.dumps({"v": 1, "id_entrada": 5, "truncated": True}))
    assert h.truncated and h.warning == ""
    h = parse(_payload(v=99))
    assert h.entry_id == 42 and "unknown payload version 99" in h.warning
    h = parse(json.dumps({"v": 1, "id_entrada": 5}))
    assert "without member fields" in h.warning


GARBAGE = [
    None,
    "",
    " ",
    "null",
    "true",
    "42",
    '"42"',
    "[]",
    "[1,2]",
    "{",
    "{}",
    "not json",
    "\x00",
    "{'id_entrada': 1}",
    '{"id_entrada": "42"}',
    '{"id_entrada": 42.0}',
    '{"id_entrada": true}',
    '{"id_entrada": null}',
    '{"id_entrada": -1}',
    '{"id_entrada": 0}',
    '{"id_entrada": 9223372036854775808}',
    '{"id_entrada": [42]}',
    '{"id_entrada": {"x": 1}}',
    '{"id": 42}',
    "[" * 100_000,
    '{"id_entrada": 1e400}',
    "x" * 33_000,
    '{"id_entrada": NaN}',
    "\ud800",
]


@pytest.mark.parametrize("payload", GARBAGE, ids=range(len(GARBAGE)))
def test_parse_garbage_raises_a_short_payload_error(payload: str | None) -> None:
    with pytest.raises(PayloadError) as info:
        parse(payload)
    assert len(str(info.value)) < 80  # a log line, never the whole payload


@given(st.text(max_size=300))
def test_parse_never_raises_anything_but_payload_error(text: str) -> None:
    try:
        h = parse(text)
    except PayloadError as exc:
        assert str(exc)
    else:
        assert h.entry_id > 0


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    )
)
def test_parse_any_json_document(doc: object) -> None:
    try:
        h = parse(json.dumps(doc))
    except PayloadError:
        return
    assert isinstance(h.entry_id, int) and h.entry_id > 0


# -- ledger ----------------------------------------------------------------------------------------------------
def test_ledger_dedupes_and_accepts_out_of_order_commits_in_the_window() -> None:
    led = Ledger(lookback_s=60)
    led.start_at(100, T0)
    assert led.is_new(101, T0 + dt.timedelta(seconds=1))
    led.mark(102, T0 + dt.timedelta(seconds=2))  # 102 committed before 101
    assert not led.is_new(102, T0 + dt.timedelta(seconds=2))
    assert led.is_new(101, T0 + dt.timedelta(seconds=1))  # id below the cursor, but inside the window
    led.mark(101, T0 + dt.timedelta(seconds=1))
    assert not led.is_new(101, T0 + dt.timedelta(seconds=1))
    assert led.cursor_id == 102


def test_ledger_floor_and_window() -> None:
    led = Ledger(lookback_s=60)
    led.start_at(100, T0)
    assert not led.is_new(99, T0 - dt.timedelta(seconds=5))  # before the agent was first started
    led.mark(150, T0 + dt.timedelta(minutes=10))
    assert not led.is_new(120, T0 + dt.timedelta(minutes=5))  # below the cursor and outside the window
    assert led.since() == T0 + dt.timedelta(minutes=9)


def test_ledger_round_trip_and_rejects_other_servers_and_garbage() -> None:
    led = Ledger(lookback_s=60)
    led.start_at(10, T0)
    for i in range(11, 20):
        led.mark(i, T0 + dt.timedelta(seconds=i))
    data = json.loads(json.dumps(led.to_dict("h:5432/db#c")))
    back = Ledger.from_dict(data, "h:5432/db#c", lookback_s=60)
    assert back.cursor_id == 19 and back.cursor_time == led.cursor_time and back.recent == led.recent
    assert back.floor == T0
    assert not Ledger.from_dict(data, "other:5432/db#c").initialized
    for junk in (None, [], {"format": 1}, {"format": 1, "server": "h:5432/db#c", "cursor_id": "x"}, "zzz"):
        assert not Ledger.from_dict(junk, "h:5432/db#c").initialized


def test_ledger_memory_is_bounded() -> None:
    led = Ledger(lookback_s=10**9, max_recent=1000)
    led.start_at(0, T0)
    for i in range(1, 5001):
        led.mark(i, T0 + dt.timedelta(milliseconds=i))
    assert len(led.recent) <= 1250
    led.prune()
    assert len(led.recent) == 1000 and max(led.recent) == 5000


def test_ledger_ids_after_the_cursor_are_new_whatever_their_date() -> None:
    led = Ledger(lookback_s=60)
    led.start_at(100, T0)
    assert led.is_new(101, T0 - dt.timedelta(days=2))  # inserted live with a turnstile clock two days behind
    led.mark(101, T0 - dt.timedelta(days=2))
    assert not led.is_new(101, T0 - dt.timedelta(days=2))
    assert not led.is_new(50, T0 - dt.timedelta(seconds=1))  # before the first start, below the cursor


def test_ledger_future_dates_do_not_push_the_window_past_the_present() -> None:
    led = Ledger(lookback_s=60)
    led.start_at(100, T0)
    led.mark(101, T0 + dt.timedelta(days=1), server_now=T0 + dt.timedelta(seconds=5))  # a clock a day ahead
    assert led.cursor_time == T0 + dt.timedelta(seconds=5)
    led.mark(103, T0 + dt.timedelta(seconds=6), server_now=T0 + dt.timedelta(seconds=6))
    assert led.is_new(102, T0 + dt.timedelta(seconds=5))  # a lower id committing late, dated now: in the window


def test_ledger_forgetting_for_memory_never_duplicates() -> None:
    led = Ledger(lookback_s=10**6, max_recent=1000)
    led.start_at(0, T0)
    for i in range(1, 1501):  # one big transaction: every row has the same fecha_hora
        led.mark(i, T0)
    led.prune()
    assert len(led.recent) == 1000 and led.forgotten_max_id == 500
    assert not any(led.is_new(i, T0) for i in range(1, 1501))  # a sweep re-reading them delivers nothing
    back = Ledger.from_dict(led.to_dict("s"), "s", lookback_s=10**6)
    assert back.forgotten_max_id == 500


def test_parse_accepts_a_payload_that_grew_in_conversion_to_utf8() -> None:
    """A LATIN1 server's payload just under its 8000-byte limit is up to twice that in UTF-8 (review finding)."""
    body = json.dumps({"v": 1, "id_entrada": 7, "miembro": {"notas": "ñ" * 3990}}, ensure_ascii=False)
    assert len(body.encode("latin-1")) < 8000 < len(body.encode("utf-8"))
    assert parse(body).entry_id == 7


def test_ledger_without_pending_replays_them_and_remembers_the_rest() -> None:
    led = Ledger(lookback_s=60)
    led.start_at(10, T0)
    for i in range(11, 21):
        led.mark(i, T0 + dt.timedelta(seconds=i))
    saved = Ledger.from_dict(led.without({14: T0, 15: T0}).to_dict("s"), "s", lookback_s=60)
    assert saved.cursor_id == 13
    assert [i for i in range(11, 21) if saved.is_new(i, T0 + dt.timedelta(seconds=i))] == [14, 15]
    assert led.cursor_id == 20 and 14 in led.recent  # the live ledger is untouched
