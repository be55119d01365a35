"""One contract for the notifier port (:class:`agent.adapters.notifier_api.Notifier`), run against every
implementation that can run here: D-Bus against a real dunst (with and without ``body-markup``), the console
(UTF-8 and cp1252 streams, and a real child process with ``PYTHONIOENCODING=cp1252``), the balloon on a fake
tray, and the null twin. WinRT needs Windows (its text rules are the shared ``plain_text``, tested below).

Each class says how to build its notifier, how to read back what the display path received (dunst's history,
the bytes written, the tray calls), and how to break that path. The contract: ``show`` is True only when the
path accepted the notice, False (fast, never an exception) when it did not; hostile text arrives literally
(escaped only as the backend's format requires, cut only where the platform has a size limit).
"""

from __future__ import annotations

import html
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeTray
from notify_session import NotifySession, notify_session, wait_until

from agent.adapters import notifier_api
from agent.adapters.notifier_api import Notifier, console_text, markup_body, plain_text
from agent.adapters.notifier_balloon import BALLOON_TEXT_MAX, BALLOON_TITLE_MAX, BalloonNotifier, fit_utf16
from agent.adapters.notifier_console import ConsoleNotifier
from agent.adapters.notifier_linux import DbusNotifier
from agent.adapters.notifier_null import NullNotifier
from agent.core.notify_text import Notice, Urgency

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = {
    "shell": "& < > \" ' $( ) ; | \\ %",
    "markup": "Musculación <Premium> & Spa <b>x</b> &amp;",
    "emoji": "Ana 👍🏽 👨‍👩‍👧 ✅",
    "rtl": "محمد علي שלום",
    "combining": "Jose\u0301 Zoe\u0308 n\u0303",
    "polish": "Wojciech Łukaszewicz",
    "long": "Nombre" + "x" * 3994,
}
NOTICES = [(key, Notice(text, f"Plan {text}\nAl día", tag=f"t-{key}")) for key, text in HOSTILE.items()]


class NotifierContract:
    """Subclasses provide the ``notifier`` fixture and :meth:`received` (title, body) pairs in order."""

    cuts = False
    """True where the platform limits the text size (the balloon): then a prefix must arrive."""

    def received(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def break_path(self) -> None:
        """Make the display path refuse the next notice."""
        raise NotImplementedError

    def mend_path(self) -> None:
        """Undo :meth:`break_path`."""

    def test_show_is_true_and_the_notice_arrives(self, notifier: Notifier) -> None:
        self.received()
        assert notifier.show(Notice("Ana López", "Plan Mensual\nAl día")) is True
        assert self.received() == [("Ana López", "Plan Mensual\nAl día")]

    @pytest.mark.parametrize(("key", "notice"), NOTICES, ids=[k for k, _ in NOTICES])
    def test_hostile_text_arrives_literally(self, notifier: Notifier, key: str, notice: Notice) -> None:
        self.received()
        assert notifier.show(notice) is True
        ((title, body),) = self.received()
        if self.cuts:
            assert notice.title.startswith(title.removeprefix("⚠ ")) and len(title) > 10
            assert notice.body.startswith(body) and len(body) > 10
        else:
            assert (title, body) == (notice.title, notice.body)

    def test_a_broken_path_is_false_fast_and_never_raises(self, notifier: Notifier) -> None:
        self.break_path()
        try:
            started = time.monotonic()
            assert notifier.show(Notice("Ana", "Plan", urgency=Urgency.CRITICAL)) is False
            assert time.monotonic() - started < 1.5
        finally:
            self.mend_path()
        self.received()
        assert notifier.show(Notice("Luis", "Plan")) is True
        assert self.received() == [("Luis", "Plan")]


# -- D-Bus against a real dunst ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotifySession]:
    with notify_session(tmp_path_factory.mktemp("notify")) as s:
        yield s


@pytest.mark.desktop
class TestDbusWithMarkup(NotifierContract):
    markup = "full"

    @pytest.fixture
    def notifier(self, session: NotifySession) -> Iterator[Notifier]:
        self.session = session
        session.start_dunst(self.markup)
        n = DbusNotifier("Aviso de Entradas", ROOT / "assets" / "app.png", bus_address=session.address)
        yield n
        n.close()

    def received(self) -> list[tuple[str, str]]:
        rows = self.session.received()
        unescape = html.unescape if self.markup == "full" else (lambda s: s)
        return [(r["summary"], unescape(r["body"])) for r in rows]

    def break_path(self) -> None:
        self.session.stop_dunst()

    def mend_path(self) -> None:
        self.session.start_dunst(self.markup)

    def test_body_is_escaped_only_for_a_markup_server_and_dunst_parses_it(self, notifier: Notifier) -> None:
        self.received()
        before = len(self.session.dunst_log())
        assert notifier.show(Notice("<Ana> & 'Bea'", "Musculación <Premium> & Spa")) is True
        (row,) = self.session.received()
        assert row["summary"] == "<Ana> & 'Bea'"  # the summary is plain text by the spec: never escaped
        expected = "Musculación &lt;Premium&gt; &amp; Spa" if self.markup == "full" else "Musculación <Premium> & Spa"
        assert row["body"] == expected
        assert "markup" not in self.session.dunst_log()[before:].lower()  # no parse error logged by dunst

    def test_daemon_restart_with_other_capabilities_is_noticed(self, notifier: DbusNotifier) -> None:
        other = "no" if self.markup == "full" else "full"
        self.session.start_dunst(other)
        try:
            self.received()
            assert notifier.show(Notice("Ana", "a <b> & c")) is True
            (row,) = self.session.received()
            assert row["body"] == ("a <b> & c" if other == "no" else "a &lt;b&gt; &amp; c")
            assert notifier.capabilities is not None and ("body-markup" in notifier.capabilities) == (other == "full")
        finally:
            self.session.start_dunst(self.markup)

    def test_a_click_reaches_on_click_with_its_notice(self, session: NotifySession) -> None:
        session.start_dunst(self.markup)
        clicked: list[Notice] = []
        n = DbusNotifier("Aviso de Entradas", on_click=clicked.append, bus_address=session.address)
        try:
            notice = Notice("Ana", "Plan", member_id="A-17 --borrar")
            assert n.show(notice) is True
            session.ctl("action", "0")  # dunst's default action on the newest notification
            wait_until(lambda: clicked, 5, "the click")
            assert clicked == [notice]
        finally:
            n.close()
            session.received()

    def test_urgency_photo_and_app_icon_reach_the_server(self, notifier: Notifier, tmp_path: Path) -> None:
        photo = tmp_path / "socio 1.png"
        photo.write_bytes((ROOT / "assets" / "app.png").read_bytes())
        self.received()
        assert notifier.show(Notice("Ana", "Vencido", urgency=Urgency.CRITICAL, photo_path=photo)) is True
        (row,) = self.session.received()
        assert row["summary"] == "Ana"
        call = wait_until(lambda: [c for c in self.session.notify_calls() if c["body"] == "Vencido"], 5, "the call")
        assert call[-1]["urgency"] == "2"  # critical (spec, "Urgency Levels")
        assert call[-1]["image-path"] == photo.as_uri()  # "socio%201.png": a URI, the space encoded
        assert call[-1]["app_icon"] == (ROOT / "assets" / "app.png").as_uri()

    def test_a_per_status_icon_replaces_the_app_icon(self, session: NotifySession, tmp_path: Path) -> None:
        session.start_dunst(self.markup)
        red = tmp_path / "notice-warning.png"
        red.write_bytes((ROOT / "assets" / "tray-error.png").read_bytes())
        n = DbusNotifier(
            "Aviso de Entradas",
            ROOT / "assets" / "app.png",
            bus_address=session.address,
            icon_for=lambda notice: red if notice.warning else tmp_path / "missing.png",
        )
        try:
            assert n.show(Notice("Ana", "icono rojo", urgency=Urgency.CRITICAL)) is True
            assert n.show(Notice("Luis", "icono de la app")) is True
        finally:
            n.close()
            session.received()
        calls = wait_until(
            lambda: (c := {c["body"]: c for c in session.notify_calls()}) and "icono de la app" in c and c, 5, "calls"
        )
        assert calls["icono rojo"]["app_icon"] == red.as_uri()
        assert calls["icono de la app"]["app_icon"] == (ROOT / "assets" / "app.png").as_uri()  # file missing

    def test_no_bus_at_all_is_unavailable(self, tmp_path: Path) -> None:
        with pytest.raises(notifier_api.NotifierUnavailable, match="session bus"):
            DbusNotifier("Aviso", bus_address=f"unix:path={tmp_path}/nothing-here")


@pytest.mark.desktop
class TestDbusWithoutMarkup(TestDbusWithMarkup):
    markup = "no"


# -- console -------------------------------------------------------------------------------------------------------
class TestConsoleUtf8(NotifierContract):
    encoding = "utf-8"

    @pytest.fixture
    def notifier(self) -> Iterator[Notifier]:
        self.raw = io.BytesIO()
        self.stream = io.TextIOWrapper(self.raw, encoding=self.encoding, errors="strict", newline="\n")
        self.read = 0
        n = ConsoleNotifier(self.stream)
        yield n
        n.close()

    def received(self) -> list[tuple[str, str]]:
        data = self.raw.getvalue()[self.read :]
        self.read += len(data)
        out = []
        for line in data.decode(self.encoding).splitlines():
            title, _, body = line[4:].partition(" — ")
            out.append((title, body.replace(" | ", "\n")))
        return out

    def break_path(self) -> None:
        self.stream.close()

    def mend_path(self) -> None:
        self.raw = io.BytesIO()
        self.stream = io.TextIOWrapper(self.raw, encoding=self.encoding, newline="\n")
        self.read = 0
        self._notifier_stream(self.stream)

    def _notifier_stream(self, stream: io.TextIOWrapper) -> None:
        self.current._stream = stream

    @pytest.fixture(autouse=True)
    def _keep(self, notifier: ConsoleNotifier) -> None:
        self.current = notifier

    @pytest.mark.parametrize(("key", "notice"), NOTICES, ids=[k for k, _ in NOTICES])
    def test_hostile_text_arrives_literally(self, notifier: Notifier, key: str, notice: Notice) -> None:
        assert notifier.show(notice) is True
        plan, status = notice.body.split("\n")
        line = f"[i] {notice.title} — {plan} | {status}\n"
        assert self.raw.getvalue() == line.encode(self.encoding, errors="backslashreplace")

    def test_the_marks_say_the_urgency(self, notifier: Notifier) -> None:
        notifier.show(Notice("T", "", urgency=Urgency.CRITICAL))
        assert self.raw.getvalue().decode(self.encoding) == "[!] T\n"


class TestConsoleCp1252(TestConsoleUtf8):
    encoding = "cp1252"

    def test_an_unencodable_name_is_escaped_not_dropped(self, notifier: Notifier) -> None:
        assert notifier.show(Notice("Wojciech Łukaszewicz", "Musculación")) is True
        assert self.raw.getvalue() == "[i] Wojciech \\u0141ukaszewicz — Musculación\n".encode("cp1252")


def test_console_in_a_real_cp1252_process() -> None:
    code = (
        "from agent.adapters.notifier_console import ConsoleNotifier\n"
        "from agent.core.notify_text import Notice\n"
        "print(ConsoleNotifier().show(Notice('Wojciech Łukaszewicz 👍', 'Año & <b>')))\n"
    )
    env = dict(os.environ, PYTHONIOENCODING="cp1252")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, cwd=ROOT, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode("cp1252").splitlines() == [
        "[i] Wojciech \\u0141ukaszewicz \\U0001f44d — Año & <b>",
        "True",
    ]


def test_console_without_stdout_is_false() -> None:
    code = (
        "import sys; sys.stdout = None\n"
        "from agent.adapters.notifier_console import ConsoleNotifier\n"
        "from agent.core.notify_text import Notice\n"
        "sys.stderr.write(str(ConsoleNotifier().show(Notice('Ana', 'x'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.stderr.strip().endswith("False"), out.stderr


# -- balloon on a fake tray ----------------------------------------------------------------------------------------
class TestBalloon(NotifierContract):
    cuts = True

    @pytest.fixture
    def notifier(self) -> Iterator[Notifier]:
        self.tray = FakeTray()
        n = BalloonNotifier(self.tray.balloon)
        yield n
        n.close()

    def received(self) -> list[tuple[str, str]]:
        out, self.tray.balloons = self.tray.balloons, []
        return out

    def break_path(self) -> None:
        self.tray.fail = OSError("Shell_NotifyIconW failed")

    def mend_path(self) -> None:
        self.tray.fail = None

    def test_limits_are_utf16_units_and_never_split_an_emoji(self, notifier: Notifier) -> None:
        notifier.show(Notice("😀" * 40, "👍" * 200, urgency=Urgency.CRITICAL))
        ((title, body),) = self.received()
        assert title.startswith("⚠ ") and len(title.encode("utf-16-le")) // 2 <= BALLOON_TITLE_MAX
        assert body == "👍" * (BALLOON_TEXT_MAX // 2)
        assert fit_utf16("a😀", 2) == "a"

    def test_a_tray_without_balloons_is_false(self, notifier: Notifier) -> None:
        self.tray.has_balloon = False
        assert notifier.show(Notice("Ana", "x")) is False


# -- null ----------------------------------------------------------------------------------------------------------
def test_null_accepts_everything_and_shows_nothing() -> None:
    n = NullNotifier()
    assert all(n.show(notice) is True for _, notice in NOTICES)
    n.close()
    n.close()


# -- the shared text rules ------------------------------------------------------------------------------------------
def test_plain_text_replaces_only_what_cannot_be_carried() -> None:
    assert plain_text("a\x00b\x07c\td\ne\ud800f\ufffe") == "a\ufffdb\ufffdc\td\ne\ufffdf\ufffd"
    for _, notice in NOTICES:
        assert plain_text(notice.title) == notice.title


def test_markup_body_escapes_three_characters_only_for_markup_servers() -> None:
    assert markup_body("a & <b> \"c\" 'd'", True) == "a &amp; &lt;b&gt; \"c\" 'd'"
    assert markup_body("a & <b>", False) == "a & <b>"
    assert html.unescape(markup_body(HOSTILE["markup"], True)) == HOSTILE["markup"]


def test_console_text_never_drops() -> None:
    assert console_text("Łódź", "cp1252") == "\\u0141\\xf3d\\u017a".replace("\\xf3", "ó")
    assert console_text("Łódź", "ascii") == "\\u0141\\xf3d\\u017a"
    assert console_text("x", "no-such-codec") == "x"


def test_the_base_class_turns_exceptions_into_false(caplog: pytest.LogCaptureFixture) -> None:
    class Exploding(notifier_api.NotifierBase):
        name = "exploding"

        def _show(self, notice: Notice) -> bool:
            raise RuntimeError("boom")

        def _close(self) -> None:
            raise OSError("gone")

    n = Exploding()
    assert n.show(Notice("Ana", "x", tag="entry-7")) is False
    n.close()
    assert "exploding could not show 'entry-7': RuntimeError: boom" in caplog.text
