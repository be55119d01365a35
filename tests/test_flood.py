"""Flood control, pause/resume and catch-up batching, with the clock as a parameter. Pure, no sleeping."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.flood import FloodControl, NoticeGate, Show, Summarize, SummaryReason


def shown(out: list[Show[int] | Summarize[int]]) -> list[int]:
    return [o.item for o in out if isinstance(o, Show)]


def summaries(out: list[Show[int] | Summarize[int]]) -> list[Summarize[int]]:
    return [o for o in out if isinstance(o, Summarize)]


def test_burst_shows_k_then_one_summary_when_it_settles() -> None:
    g: NoticeGate[int] = NoticeGate(max_count=5, window_s=30, settle_s=3)
    out = []
    for i in range(12):
        out += g.submit(i, now=100.0 + i * 0.01)
    assert shown(out) == [0, 1, 2, 3, 4]
    assert g.tick(102.0) == []  # not settled yet
    assert g.next_deadline() == pytest.approx(100.11 + 3)
    done = g.tick(103.2)
    assert done == [Summarize(SummaryReason.FLOOD, tuple(range(5, 12)))]
    assert g.tick(200) == []


def test_entries_after_a_summary_wait_for_the_window() -> None:
    g: NoticeGate[int] = NoticeGate(max_count=2, window_s=10, settle_s=1)
    assert shown(g.submit(1, 0.0) + g.submit(2, 0.1)) == [1, 2]
    assert g.submit(3, 0.2) == []
    assert summaries(g.tick(1.3))[0].items == (3,)
    assert g.submit(4, 5.0) == []  # window still full (1 and 2 shown at 0.0/0.1)
    assert summaries(g.tick(6.1))[0].items == (4,)
    assert shown(g.submit(5, 10.5)) == [5]  # 10 s after the first ones: room again


def test_sustained_stream_gets_at_most_k_plus_one_per_window() -> None:
    g: NoticeGate[int] = NoticeGate(max_count=5, window_s=30, settle_s=3)
    events: list[tuple[float, Show[int] | Summarize[int]]] = []
    now = 0.0
    for i in range(600):  # 10 entries/s for 60 s
        now = i * 0.1
        events += [(now, o) for o in g.submit(i, now)]
        events += [(now, o) for o in g.tick(now)]
    events += [(now + 40, o) for o in g.tick(now + 40)]
    # every entry is accounted for exactly once
    seen = [x for _, o in events for x in ((o.item,) if isinstance(o, Show) else o.items)]
    assert sorted(seen) == list(range(600))
    times = [t for t, _ in events]
    for t0 in times:
        assert sum(1 for t in times if t0 <= t < t0 + 30) <= 6


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=80))
def test_property_no_loss_no_duplicate_and_limit(gaps: list[float]) -> None:
    k, window = 3, 10.0
    g: NoticeGate[int] = NoticeGate(max_count=k, window_s=window, settle_s=2)
    now, got, shows = 0.0, [], []
    for i, gap in enumerate(gaps):
        now += gap
        for o in g.tick(now) + g.submit(i, now):
            if isinstance(o, Show):
                got.append(o.item)
                shows.append(now)
            else:
                got.extend(o.items)
    for o in g.tick(now + 100):
        assert isinstance(o, Summarize)
        got.extend(o.items)
    assert sorted(got) == list(range(len(gaps)))
    for t0 in shows:
        assert sum(1 for t in shows if t0 <= t < t0 + window) <= k


def test_pause_holds_everything_and_resume_gives_one_summary() -> None:
    g: NoticeGate[int] = NoticeGate(max_count=5, window_s=30)
    g.pause(0.0, None)
    assert g.paused(1.0) and g.paused_until == math.inf
    for i in range(20):
        assert g.submit(i, 1.0 + i) == []
    assert g.tick(10_000) == []  # an indefinite pause never ends by itself
    out = g.resume(10_001)
    assert out == [Summarize(SummaryReason.PAUSE, tuple(range(20)))]
    assert not g.paused(10_001) and g.paused_until is None
    assert g.resume(10_002) == []
    assert shown(g.submit(99, 10_003)) == [99]


def test_resume_with_nothing_still_says_so() -> None:
    g: NoticeGate[int] = NoticeGate()
    g.pause(0.0, 60)
    assert g.resume(1.0) == [Summarize(SummaryReason.PAUSE, ())]


def test_timed_pause_ends_by_itself_with_one_summary() -> None:
    g: NoticeGate[int] = NoticeGate()
    g.pause(0.0, 15 * 60)
    assert g.submit(1, 10.0) == []
    assert g.next_deadline() == 900.0
    assert g.tick(899.9) == []
    assert g.tick(900.0) == [Summarize(SummaryReason.PAUSE, (1,))]
    assert shown(g.submit(2, 901)) == [2]


def test_pausing_again_changes_the_end_and_keeps_items() -> None:
    g: NoticeGate[int] = NoticeGate()
    g.pause(0.0, 60)
    g.submit(1, 1)
    g.pause(2.0, None)
    assert g.tick(100) == []
    g.pause(3.0, 10)
    assert g.tick(13.0) == [Summarize(SummaryReason.PAUSE, (1,))]


def test_pause_takes_over_held_flood_and_catchup_items() -> None:
    g: NoticeGate[int] = NoticeGate(max_count=1, window_s=30, settle_s=3)
    g.submit(1, 0.0)
    g.submit(2, 0.1)  # held by flood control
    g.submit(3, 0.2, catchup=True)
    g.pause(0.3)
    assert g.resume(50) == [Summarize(SummaryReason.PAUSE, (3, 2))]


def test_backlog_while_paused_is_counted_in_the_resume_summary() -> None:
    g: NoticeGate[int] = NoticeGate()
    assert g.submit_backlog(7, 0.0) is False
    g.pause(0.0)
    assert g.submit_backlog(7, 1.0) is True
    (s,) = g.resume(2.0)
    assert isinstance(s, Summarize) and s.count == 7 and s.items == ()


def test_catchup_becomes_one_summary_when_it_settles() -> None:
    g: NoticeGate[int] = NoticeGate(catchup_settle_s=1.0)
    for i in range(30):
        assert g.submit(i, 5.0 + i * 0.001, catchup=True) == []
    assert g.tick(5.5) == []
    assert g.tick(6.1) == [Summarize(SummaryReason.CATCHUP, tuple(range(30)))]


def test_live_entry_flushes_catchup_first() -> None:
    g: NoticeGate[int] = NoticeGate()
    g.submit(1, 0.0, catchup=True)
    g.submit(2, 0.0, catchup=True)
    out = g.submit(3, 0.1)
    assert out == [Summarize(SummaryReason.CATCHUP, (1, 2)), Show(3)]


def test_single_catchup_entry_is_shown_normally() -> None:
    g: NoticeGate[int] = NoticeGate()
    g.submit(1, 0.0, catchup=True)
    assert g.tick(1.5) == [Show(1)]


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_count"):
        FloodControl(max_count=0)
    with pytest.raises(ValueError, match="max_count"):
        FloodControl(window_s=0)


def test_a_flood_summary_of_one_entry_is_that_entry() -> None:
    """The demo's denied passage was folded into "1 more entry": one held entry is shown as itself."""
    g: NoticeGate[int] = NoticeGate(max_count=2, window_s=30, settle_s=3)
    assert shown(g.submit(1, 0.0) + g.submit(2, 1.0)) == [1, 2]
    assert g.submit(3, 2.0) == []
    (out,) = g.tick(5.1)
    assert isinstance(out, Summarize) and out.single == 3
    assert Summarize(SummaryReason.FLOOD, (3, 4)).single is None
    assert Summarize(SummaryReason.FLOOD, (3,), extra=2).single is None
    assert Summarize(SummaryReason.PAUSE, (3,)).single is None
    assert Summarize(SummaryReason.CATCHUP, (3,)).single is None


def test_an_urgent_item_is_not_held_behind_a_burst_and_has_its_own_budget() -> None:
    """A denied or expired member in a rush: shown at once (it waited up to window_s for the summary, long after
    walking past the desk); urgent items beyond their own budget are held like the rest, in order."""
    g: NoticeGate[int] = NoticeGate(max_count=2, window_s=30, settle_s=3)
    out = []
    for i in range(6):
        out += g.submit(i, now=float(i))
    assert shown(out) == [0, 1]  # 2..5 held
    assert shown(g.submit(100, 6.0, urgent=True)) == [100]
    assert shown(g.submit(101, 6.5, urgent=True)) == [101]
    assert g.submit(102, 7.0, urgent=True) == []  # its budget is spent: held with the others
    (summary,) = summaries(g.tick(10.1))
    assert summary.items == (2, 3, 4, 5, 102)
    assert shown(g.submit(103, 36.6, urgent=True)) == [103]  # 30 s later: room again


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.booleans()), min_size=1, max_size=80))
def test_property_with_urgent_items_no_loss_no_duplicate_and_limits(steps: list[tuple[float, bool]]) -> None:
    """No item lost or doubled; single notices in any window: at most k normal ones, 2k in all (an urgent item
    uses its own budget first, then the normal one)."""
    k, window = 3, 20.0
    g: NoticeGate[int] = NoticeGate(max_count=k, window_s=window, settle_s=2)
    now, seen, shows = 0.0, list[int](), list[tuple[float, bool]]()
    for i, (gap, urgent) in enumerate(steps):
        now += gap
        for o in g.tick(now) + g.submit(i, now, urgent=urgent):
            if isinstance(o, Show):
                seen.append(o.item)
                shows.append((now, steps[o.item][1]))
            else:
                seen.extend(o.items)
    for o in g.tick(now + 1000):
        assert isinstance(o, Summarize)
        seen.extend(o.items)
    assert sorted(seen) == list(range(len(steps)))
    for only_normal, limit in ((True, k), (False, 2 * k)):
        times = [t for t, urgent in shows if not (only_normal and urgent)]
        for t0 in times:
            assert sum(1 for t in times if t0 <= t < t0 + window) <= limit
