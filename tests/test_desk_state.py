"""The desk state, pure: effects out for events and commands in; no threads, the clock passed in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from desk_rig import NOW, make_entry
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.config import NotificationSettings, PhotoSettings, Settings
from agent.core.events import ConnState, PhotoReady, StateChanged
from agent.core.model import Source
from agent.core.notify_text import Tone, Urgency
from agent.desk import messages as m
from agent.desk.faults import FAULT_CLEAR_S, FAULT_COUNT, FaultCounter
from agent.desk.state import DeskState


def new_state(**notif: object) -> DeskState:
    """A connected desk state (no outage notice in the way)."""
    state = DeskState(
        Settings(notifications=NotificationSettings(**notif), photos=PhotoSettings(budget_ms=800)),  # type: ignore[arg-type]
        lang="es",
        tz=dt.UTC,
        notifier_names=["primary", "fallback"],
        now=0.0,
        today=NOW.date(),
    )
    state.handle(StateChanged(ConnState.LISTENING), 0.0, NOW)
    return state


def shows(effects: list[m.Effect]) -> list[m.ShowNotice]:
    return [e for e in effects if isinstance(e, m.ShowNotice)]


def test_an_entry_is_published_then_shown_and_acked_only_after_acceptance() -> None:
    s = new_state()
    effects = s.handle(make_entry(1), 1.0, NOW)
    assert isinstance(effects[0], m.Publish) and effects[0].entry.entry_id == 1
    (show,) = shows(effects)
    assert show.entry_ids == (1,)
    assert not [e for e in effects if isinstance(e, m.Ack)]  # not before a notifier accepted it
    assert s.shown(show, [0], 0, 1.0) == [m.Ack((1,))]


def test_visitor_entries_are_acked_at_once_and_show_nothing() -> None:
    assert new_state().handle(make_entry(1, access="visitante"), 1.0, NOW) == [m.Ack((1,))]


def test_repeat_entry_is_a_warning_with_minutes_and_amber() -> None:
    s = new_state(repeat_entry_warning_min=60)
    entry = make_entry(1, previous=NOW - dt.timedelta(minutes=12))
    (show,) = shows(s.handle(entry, 1.0, NOW))
    n = show.notice
    assert "Entró hace 12 min" in n.body and n.urgency is Urgency.CRITICAL and n.tone is Tone.AMBER
    off = new_state(repeat_entry_warning_min=0)
    (plain,) = shows(off.handle(entry, 1.0, NOW))
    assert "Entró" not in plain.notice.body and plain.notice.tone is Tone.GREEN
    old = make_entry(2, previous=NOW - dt.timedelta(minutes=61))
    (outside,) = shows(s.handle(old, 100.0, NOW))
    assert "Entró" not in outside.notice.body


def test_first_visit_is_a_blue_special() -> None:
    (show,) = shows(new_state().handle(make_entry(1, first_visit=True), 1.0, NOW))
    assert show.notice.body.endswith("Primera visita") and show.notice.tone is Tone.BLUE
    assert show.notice.urgency is Urgency.NORMAL and show.notice.status_text.endswith("Primera visita")


def test_warnings_only_setting_hides_normal_entries_not_warnings() -> None:
    s = new_state(only_warnings=True)
    normal = s.handle(make_entry(1), 1.0, NOW)
    assert not shows(normal) and m.Ack((1,)) in normal and isinstance(normal[0], m.Publish)
    assert [x.notice.title for x in shows(s.handle(make_entry(2, expired=True), 2.0, NOW))] == ["Socio2 Prueba"]
    assert s.view(3.0).only_warnings and s.today_count == 2


def test_photo_fetch_holds_the_notice_until_ready_or_the_budget() -> None:
    s = new_state()
    effects = s.entry(make_entry(1, photo_url="http://x/1.jpg"), 10.0, NOW, fetch=True)
    assert [type(e) for e in effects] == [m.Publish, m.FetchPhoto]
    assert s.next_deadline() == 10.8
    (show,) = shows(s.handle(PhotoReady(1, Path("thumbs/1.png")), 10.3, NOW))
    assert show.notice.photo_path == Path("thumbs/1.png")
    assert s.handle(PhotoReady(1, Path("thumbs/1.png")), 10.4, NOW) == []  # once only
    s.entry(make_entry(2, photo_url="http://x/2.jpg"), 20.0, NOW, fetch=True)
    assert not shows(s.tick(20.79, NOW))
    (late,) = shows(s.tick(20.8, NOW))
    assert late.notice.photo_path is None and late.entry_ids == (2,)
    assert s.handle(PhotoReady(2, Path("thumbs/2.png")), 21.0, NOW) == []  # too late: already shown


def test_a_cached_photo_goes_on_the_notice_at_once() -> None:
    (show,) = shows(new_state().entry(make_entry(1), 1.0, NOW, photo=Path("/c/1.png"), fetch=False))
    assert show.notice.photo_path == Path("/c/1.png")


def test_click_command_runs_the_click_action_only_when_configured() -> None:
    s = new_state(click_action="pos.exe --miembro {id_miembro}")
    (show,) = shows(s.handle(make_entry(1, member_id="A-17 --borrar"), 1.0, NOW))
    assert s.handle(m.Clicked(show.notice), 2.0, NOW) == [m.RunClick("pos.exe --miembro {id_miembro}", "A-17 --borrar")]
    assert new_state().handle(m.Clicked(show.notice), 2.0, NOW) == []


def test_fault_counter_needs_repeated_failures_and_clears() -> None:
    f = FaultCounter()
    for t in range(FAULT_COUNT - 1):
        f.record(float(t))
    assert not f.faulted(5.0)
    f.record(10.0)
    assert f.faulted(10.0)
    assert not f.faulted(10.0 + FAULT_CLEAR_S)
    slow = FaultCounter()
    for t in range(FAULT_COUNT):
        slow.record(t * 100.0)  # spread out: never the error state
    assert not slow.faulted(300.0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["live", "catchup", "visitor", "pause", "resume", "tick", "warnonly"]),
            st.floats(0, 40),
            st.booleans(),
        ),
        max_size=60,
    )
)
def test_every_entry_is_acked_exactly_once_and_only_after_being_shown_or_hidden_on_purpose(
    script: list[tuple[str, float, bool]],
) -> None:
    """Property over flood control, pause, catch-up and warnings-only: with an always-accepting notifier, every
    entry is acked at most once, never before a notice standing for it was accepted (or, warnings-only, it was
    deliberately not popped up), and all are acked once the pause ends and the timers run out."""
    s = new_state()
    now, next_id, acked, seen = 0.0, 0, list[int](), set[int]()

    def carry(effects: list[m.Effect]) -> None:
        for e in effects:
            if isinstance(e, m.ShowNotice):
                seen.update(e.entry_ids)
                carry(s.shown(e, [0], 0, now))
            elif isinstance(e, m.Ack):
                for entry_id in e.entry_ids:
                    assert entry_id in seen or hidden.get(entry_id)
                acked.extend(e.entry_ids)

    hidden: dict[int, bool] = {}
    for action, dt_s, flag in script:
        now += dt_s
        if action in ("live", "catchup", "visitor"):
            ev = make_entry(
                next_id,
                expired=flag,
                access="visitante" if action == "visitor" else "miembro",
                source=Source.CATCHUP if action == "catchup" else Source.LIVE,
            )
            hidden[next_id] = action == "visitor" or (s.only_warnings and not flag)
            next_id += 1
            carry(s.handle(ev, now, NOW))
        elif action == "pause":
            carry(s.handle(m.Pause(None if flag else 5.0), now, NOW))
        elif action == "resume":
            carry(s.handle(m.Resume(), now, NOW))
        elif action == "warnonly":
            carry(s.handle(m.ToggleWarningsOnly(), now, NOW))
        else:
            carry(s.tick(now, NOW))
    carry(s.handle(m.Resume(), now, NOW))
    for _ in range(3):
        now += 100.0
        carry(s.tick(now, NOW))
    assert len(acked) == len(set(acked))
    assert set(acked) == set(range(next_id))


def test_an_entry_delivered_again_is_shown_once_and_acked_again_only_when_already_acked() -> None:
    """A reloaded engine replays what the desk still held (paused here) or acked to an abandoned engine: the desk
    shows, counts and publishes it once; an already-acked copy is acked again (the new engine waits for it)."""
    s = new_state()
    s.handle(m.Pause(None), 1.0, NOW)
    assert s.handle(make_entry(1), 2.0, NOW) != []  # published, held by the pause
    assert s.handle(make_entry(1, source=Source.CATCHUP), 3.0, NOW) == []  # the replayed copy: nothing at all
    assert s.today_count == 1 and len(s.recent) == 1
    (summary,) = shows(s.handle(m.Resume(), 4.0, NOW))
    assert summary.entry_ids == (1,)
    assert s.shown(summary, [0], 0, 4.0) == [m.Ack((1,))]
    assert s.handle(make_entry(1, source=Source.CATCHUP), 5.0, NOW) == [m.Ack((1,))]
    assert s.today_count == 1 and s.seen.held_count == 0


def test_after_a_reload_to_another_server_an_equal_id_is_a_new_entry() -> None:
    s = new_state()
    s.handle(StateChanged(ConnState.LISTENING, server="old:5432/torniquete_db"), 0.5, NOW)
    (first,) = shows(s.handle(make_entry(7), 1.0, NOW))
    s.shown(first, [0], 0, 1.0)
    s.handle(StateChanged(ConnState.LISTENING, server="new:5432/torniquete_db"), 2.0, NOW)
    assert len(shows(s.handle(make_entry(7), 40.0, NOW))) == 1


def test_the_missed_summary_counts_and_names_the_entries_inside_missed_summaries() -> None:
    """Display path down for a burst: 2 entry notices and one flood summary of 4 reach no notifier. The summary
    when it comes back must stand for the 6 entries (not "3 avisos") and name the expired member hidden in the
    flood summary; accepted, it acks all 6."""
    s = new_state(flood_max_count=2, flood_window_s=30)
    for i in range(1, 7):
        for show in shows(s.handle(make_entry(i, expired=i == 5), float(i), NOW)):
            s.shown(show, [0, 1], None, float(i))
    summary = shows(s.tick(40.0, NOW))
    for show in summary:
        s.shown(show, [1], None, 40.0)
    (probe,) = shows(s.tick(200.0, NOW))
    assert probe.probe and sorted(probe.entry_ids) == [1, 2, 3, 4, 5, 6]
    assert probe.notice.title.startswith("6 avisos no mostrados")
    assert "1 con aviso: Socio5 Prueba" in probe.notice.body
    assert s.shown(probe, [0], 0, 200.0) == [m.Ack(probe.entry_ids)]


def test_a_reload_keeps_the_menus_warnings_only_choice_unless_the_setting_changed() -> None:
    """The keyring retry reloads every 30 s: warnings-only switched on from the menu was switched off again by
    each reload (the setting still said off) — a toggle that does not stick. Only a changed setting wins."""
    s = new_state()
    s.handle(m.ToggleWarningsOnly(), 1.0, NOW)
    s.handle(m.Reloaded(Settings()), 2.0, NOW)  # same settings (the keyring retry)
    assert s.only_warnings
    s.handle(m.Reloaded(Settings(notifications=NotificationSettings(only_warnings=True))), 3.0, NOW)
    s.handle(m.ToggleWarningsOnly(), 4.0, NOW)
    assert not s.only_warnings
    s.handle(m.Reloaded(Settings(notifications=NotificationSettings(only_warnings=False))), 5.0, NOW)
    assert not s.only_warnings  # the setting changed to off: off
    s.handle(m.Reloaded(Settings(notifications=NotificationSettings(only_warnings=True))), 6.0, NOW)
    assert s.only_warnings  # changed to on: on


def test_a_denied_member_in_a_rush_is_shown_at_once_not_in_the_summary_30_s_later() -> None:
    """Seen in the demo at 1 entry/s: after 4 notices every entry waited for the 30 s summary, a denied passage
    and an expired member included. Warnings have their own flood budget."""
    s = new_state(flood_max_count=4, flood_window_s=30)
    for i in range(1, 7):
        s.handle(make_entry(i), float(i), NOW)  # 4 shown, 2 held
    (show,) = shows(s.handle(make_entry(7, expired=True), 7.0, NOW))
    assert show.entry_ids == (7,) and show.notice.urgency is Urgency.CRITICAL


def test_connection_restored_promises_no_summary_when_none_comes() -> None:
    """The "connection restored" notice used to say "Las entradas de la interrupción se muestran en un resumen."
    even when no entry came during the outage (no summary followed). It is said when the engine listens again,
    before its catch-up: it must promise nothing the catch-up may not bring; what the catch-up brings is shown."""
    from agent.desk.conn_watch import OUTAGE_NOTICE_S

    s = new_state()
    s.handle(StateChanged(ConnState.BACKING_OFF, reason="El torniquete rechazó la conexión.", retry_in_s=5), 1.0, NOW)
    (lost,) = shows(s.tick(2.0 + OUTAGE_NOTICE_S, NOW))
    assert lost.notice.title == "Sin conexión con el torniquete"
    (back,) = shows(s.handle(StateChanged(ConnState.LISTENING), 30.0 + OUTAGE_NOTICE_S, NOW))
    assert back.notice.title == "Conexión restablecida"
    assert "si las hubo" in back.notice.body, back.notice.body
    assert "se muestran en un resumen" not in back.notice.body
    # no entry came: nothing follows (no summary)
    assert shows(s.tick(40.0 + OUTAGE_NOTICE_S, NOW)) == []
    # one came: the catch-up's entry follows (a replay of one entry is its own notice, once the replay settles)
    t = 41.0 + OUTAGE_NOTICE_S
    effects = s.handle(make_entry(7, source=Source.CATCHUP), t, NOW)
    for step in range(1, 31):
        effects += s.tick(t + step, NOW)
    (caught,) = shows(effects)
    assert caught.entry_ids == (7,)
