"""The display path's health (pure): fallback order, acknowledgement only after acceptance, degraded state,
backoff of the primary, one summary of what was missed. Plus the same rules through the desk (rig)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from desk_rig import FailingNotifier, RecordingNotifier, Rig, make_entry
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.events import ConnState, StateChanged
from agent.core.notify_text import Notice
from agent.core.tray_model import IconState
from agent.desk.display import RETRY_BASE_S, DisplayHealth
from agent.desk.messages import Ack, ShowNotice


def summary(notices: Sequence[Notice]) -> Notice:
    return Notice(title=f"{len(notices)} missed", body="")


def show(i: int) -> ShowNotice:
    return ShowNotice(Notice(title=f"n{i}", body="", entry_id=i), (i,))


def test_healthy_path_tries_the_primary_and_acks() -> None:
    d = DisplayHealth(["dbus", "balloon", "console"], summary)
    assert d.order(show(1), 0.0) == [0, 1, 2]
    assert d.outcome(show(1), [0], 0, 0.0) == [Ack((1,))]
    assert not d.degraded


def test_a_failing_primary_degrades_falls_back_and_recovers_with_one_summary() -> None:
    d = DisplayHealth(["dbus", "console"], summary)
    # primary fails, console shows it: acked, remembered as missed
    assert d.outcome(show(1), [0, 1], 1, 10.0) == [Ack((1,))]
    assert d.degraded and d.failed_name == "dbus" and d.missed_count == 1
    retry = d.retry_at
    assert 10.0 < retry <= 10.0 + RETRY_BASE_S
    # before the retry time the primary is skipped
    assert d.order(show(2), 10.1) == [1]
    # nothing at all accepts entry 2: not acked, pending
    assert d.outcome(show(2), [1], None, 10.1) == []
    assert d.pending_ids == (2,)
    assert d.next_deadline() == retry
    assert d.due(retry - 0.01) is None
    probe = d.due(retry)
    assert probe is not None and probe.probe and probe.entry_ids == (2,) and probe.notice.title == "2 missed"
    assert d.order(probe, retry) == [0]
    # the probe fails: still degraded, a longer wait
    assert d.outcome(probe, [0], None, retry) == []
    assert d.degraded and d.retry_at > retry
    second = d.due(d.retry_at)
    assert second is not None
    # the primary is back: the pending entry is acked with the summary, healthy again
    assert d.outcome(second, [0], 0, d.retry_at) == [Ack((2,))]
    assert not d.degraded and d.missed_count == 0 and d.pending_ids == ()


def test_a_normal_notice_accepted_by_the_recovered_primary_triggers_the_summary_at_once() -> None:
    d = DisplayHealth(["dbus", "console"], summary)
    d.outcome(show(1), [0, 1], 1, 0.0)
    later = d.retry_at + 1
    assert d.order(show(2), later) == [0, 1]
    out = d.outcome(show(2), [0], 0, later)
    assert out[0] == Ack((2,))
    assert isinstance(out[1], ShowNotice) and out[1].probe and out[1].notice.title == "1 missed"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.floats(0, 5)), min_size=1, max_size=40))
def test_no_entry_is_ever_acked_unseen_and_every_entry_is_acked_once_the_primary_works(
    script: list[tuple[bool, bool, float]],
) -> None:
    """Property: whatever the primary and the fallback do, an entry is acked only after a notifier accepted a
    notice that stands for it, and once the primary works again every entry has been acked."""
    d = DisplayHealth(["primary", "fallback"], summary)
    now, seen, acked = 0.0, set[int](), list[int]()

    def run(s: ShowNotice, primary_ok: bool, fallback_ok: bool) -> None:
        tried, accepted = [], None
        for index in d.order(s, now):
            tried.append(index)
            if primary_ok if index == 0 else fallback_ok:
                accepted = index
                break
        if accepted is not None:
            seen.update(s.entry_ids)
        for effect in d.outcome(s, tried, accepted, now):
            if isinstance(effect, Ack):
                assert set(effect.entry_ids) <= seen
                acked.extend(effect.entry_ids)
            else:
                run(effect, primary_ok, fallback_ok)

    for i, (primary_ok, fallback_ok, dt) in enumerate(script):
        now += dt
        run(show(i), primary_ok, fallback_ok)
        probe = d.due(now)
        if probe is not None:
            run(probe, primary_ok, fallback_ok)
    assert len(acked) == len(set(acked))
    now += 1e6  # the primary comes back for good
    probe = d.due(now)
    if probe is not None:
        run(probe, True, True)
    run(show(10_000), True, True)
    assert set(acked) == set(range(len(script))) | {10_000}


def test_through_the_desk_icon_tooltip_and_acks(tmp_path: Path) -> None:
    primary, fallback = FailingNotifier("dbus"), RecordingNotifier()
    rig = Rig(tmp_path, notifiers=[primary, fallback])
    rig.handle(StateChanged(ConnState.LISTENING))
    rig.handle(make_entry(1))
    assert [n.title for n in primary.notices] == ["Socio1 Prueba"] and rig.engines.acked == [1]
    primary.down = True
    rig.clock.t += 60
    rig.handle(make_entry(2))
    assert [n.title for n in fallback.notices] == ["Socio2 Prueba"] and rig.engines.acked == [1, 2]
    look = rig.look()
    assert look.icon is IconState.DEGRADED
    assert "Avisos no se muestran: falla dbus (1 pendientes)" in look.tooltip
    primary.down = False
    rig.clock.t += 61  # past any retry delay
    rig.tick()
    assert primary.notices[-1].title == "1 aviso no mostrado mientras fallaban las notificaciones"
    assert "Socio2 Prueba" in primary.notices[-1].body
    assert rig.look().icon is IconState.CONNECTED


def test_an_entry_no_notifier_could_show_is_never_acked_until_the_summary(tmp_path: Path) -> None:
    primary, fallback = FailingNotifier("dbus"), FailingNotifier("console")
    primary.down = fallback.down = True
    rig = Rig(tmp_path, notifiers=[primary, fallback])
    rig.handle(make_entry(1, expired=True))
    rig.handle(make_entry(2))
    assert rig.engines.acked == []
    primary.down = False
    rig.clock.t += 120
    rig.tick()
    assert rig.engines.acked == [1, 2]
    only = primary.notices[0]  # (then the outage notice: the rig never connected)
    assert only.title == "2 avisos no mostrados mientras fallaban las notificaciones" and only.warning


def test_a_probe_acks_only_what_it_summarised_and_the_rest_gets_its_own_summary() -> None:
    """Found by tests/test_desk_model.py: the timers build the probe, then a notice no notifier accepts joins the
    missed list before the probe is shown; the probe's acceptance must not acknowledge that entry (its notice was
    never shown), and what it did not cover gets a summary of its own."""
    d = DisplayHealth(["dbus", "balloon"], summary)
    d.outcome(show(1), [0, 1], 1, 0.0)  # dbus fails, the balloon shows entry 1 (acked, missed)
    probe = d.due(d.retry_at)
    assert probe is not None and probe.notice.title == "1 missed"
    assert d.outcome(show(2), [1], None, d.retry_at) == []  # entry 2: nobody accepted it, pending
    out = d.outcome(probe, [0], 0, d.retry_at)
    assert not any(isinstance(e, Ack) and 2 in e.entry_ids for e in out)
    (rest,) = [e for e in out if isinstance(e, ShowNotice)]
    assert rest.probe and rest.entry_ids == (2,) and rest.notice.title == "1 missed"
    assert d.outcome(rest, [0], 0, d.retry_at) == [Ack((2,))]
    assert not d.degraded and d.missed_count == 0 and d.pending_ids == ()


def test_two_probes_in_flight_never_ack_an_entry_twice() -> None:
    d = DisplayHealth(["dbus", "balloon"], summary)
    d.outcome(show(1), [0, 1], None, 0.0)
    first = d.due(d.retry_at)
    second = d.due(d.retry_at)
    assert first is not None and second is not None
    acks = [e for p in (first, second) for e in d.outcome(p, [0], 0, d.retry_at) if isinstance(e, Ack)]
    assert [i for a in acks for i in a.entry_ids] == [1]
