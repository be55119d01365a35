"""The click action: the template is split into arguments first, then the id substituted inside each argument
(one id = one argument), percent-encoded in URLs. Real processes for the POSIX path; the Windows splitter is
checked against ``subprocess.list2cmdline`` (its inverse) on hostile ids."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from desk_rig import Rig, make_entry

from agent.core.config import NotificationSettings, Settings
from agent.core.notify_text import Notice
from agent.desk import messages as m
from agent.desk.click import build_argv, click_url, run_click_action, split_windows

HOSTILE_IDS = ["A-17 --borrar", "BQ 88", "O'Brien", "Ñandú-ü 7", 'x" & del *', "45", "C:\\tmp\\a b\\"]


def _wait_for(path: Path) -> str:
    for _ in range(200):
        if path.exists() and path.read_text(encoding="utf-8"):
            return path.read_text(encoding="utf-8")
        threading.Event().wait(0.05)
    raise AssertionError(f"{path} was not written")


@pytest.mark.parametrize("member_id", HOSTILE_IDS)
def test_one_id_is_one_argument_in_a_real_process(tmp_path: Path, member_id: str) -> None:
    out = tmp_path / "argv.json"
    script = tmp_path / "pos.py"
    script.write_text(
        f"import json, sys\nopen({str(out)!r}, 'w', encoding='utf-8').write(json.dumps(sys.argv[1:]))\n",
        encoding="utf-8",
    )
    run_click_action(f"'{sys.executable}' '{script}' --miembro {{id_miembro}} --fin", member_id)
    assert json.loads(_wait_for(out)) == ["--miembro", member_id, "--fin"]


def test_the_id_inside_a_quoted_argument_stays_in_it() -> None:
    argv = build_argv("pos --nota 'socio {member_id} entró'", "A-17 --borrar", windows=False)
    assert argv == ["pos", "--nota", "socio A-17 --borrar entró"]


@pytest.mark.parametrize("member_id", HOSTILE_IDS)
def test_windows_rules_split_first_and_list2cmdline_round_trips(member_id: str) -> None:
    argv = build_argv('"C:\\Program Files\\POS\\pos.exe" --miembro {id_miembro} /x', member_id, windows=True)
    assert argv == ["C:\\Program Files\\POS\\pos.exe", "--miembro", member_id, "/x"]
    # what Popen on Windows does with the list, parsed back by the program's C runtime
    assert split_windows(subprocess.list2cmdline(argv)) == argv


def test_windows_splitter_follows_the_crt_rules() -> None:
    assert split_windows('prog a\\\\"b c" d') == ["prog", "a\\b c", "d"]
    assert split_windows('prog a\\"b "c""d"') == ["prog", 'a"b', 'c"d']
    assert split_windows("prog  a\\b  \t c") == ["prog", "a\\b", "c"]
    assert split_windows('"C:\\a b\\p.exe"x y') == ["C:\\a b\\p.exe", "x", "y"]
    assert split_windows("") == []


def test_urls_get_the_id_percent_encoded() -> None:
    assert click_url("https://gym.example/socio/{id_miembro}?x=1", "BQ 88") == "https://gym.example/socio/BQ%2088?x=1"
    assert click_url("https://g/{member_id}", "A/17&b=ñ") == "https://g/A%2F17%26b%3D%C3%B1"
    assert click_url("pos.exe {id_miembro}", 1) is None


def test_a_notification_click_runs_the_configured_action_through_the_desk(tmp_path: Path) -> None:
    settings = Settings(notifications=NotificationSettings(click_action="pos --miembro {id_miembro}"))
    rig = Rig(tmp_path, settings=settings)
    rig.mailbox.post(m.Clicked(Notice("x", "y", member_id="A-17 --borrar")))
    rig.run_posted()
    assert rig.clicks == [("pos --miembro {id_miembro}", "A-17 --borrar")]
    rig.mailbox.post(m.Clicked(Notice("x", "y")))  # no member: nothing runs
    rig.run_posted()
    assert len(rig.clicks) == 1


def test_a_broken_template_is_a_logged_failure_not_a_crash(tmp_path: Path) -> None:
    settings = Settings(notifications=NotificationSettings(click_action="pos 'unclosed {id_miembro}"))
    rig = Rig(tmp_path, settings=settings, run_click=run_click_action)  # the real action: shlex refuses it
    rig.mailbox.post(m.Clicked(Notice("x", "y", member_id=45)))
    rig.run_posted()
    assert rig.loop.failures == 1


@pytest.mark.parametrize("member_id", ["A&calc", "x|y", "50%PATH%", "a^b", 'q"&calc', "B Q", "(x)", "x!y"])
def test_a_batch_file_never_gets_an_id_cmd_exe_would_parse(member_id: str) -> None:
    """``CreateProcess`` runs a .bat/.cmd through cmd.exe, which re-parses ``list2cmdline``'s output: an id
    ``A&calc`` (no space, so not even quoted) would run calc. Such ids are refused for batch files."""
    for template in ("C:\\pos\\abrir.bat --miembro {id_miembro}", '"C:\\Program Files\\pos\\abrir.CMD" {id_miembro}'):
        with pytest.raises(ValueError, match="batch file"):
            build_argv(template, member_id, windows=True)
    # plain ids still pass, and an .exe keeps getting any id as one argument
    assert build_argv("C:\\pos\\abrir.bat --miembro {id_miembro}", "A-17_b.2", windows=True)[-1] == "A-17_b.2"
    assert build_argv("C:\\pos\\abrir.exe --miembro {id_miembro}", member_id, windows=True)[-1] == member_id


def test_a_browser_that_blocks_never_stalls_the_desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$BROWSER`` naming a browser makes ``webbrowser.open`` wait for that process to exit: a click on a
    notification with a URL action must not freeze the desk (the next entries are shown at once)."""
    import webbrowser

    opened = tmp_path / "opened.txt"
    browser = tmp_path / "slow-browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\nsleep 30\n', encoding="utf-8")
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    monkeypatch.setattr(webbrowser, "_tryorder", None)
    monkeypatch.setattr(webbrowser, "_browsers", {})
    settings = Settings(notifications=NotificationSettings(click_action="https://gym.example/socio/{id_miembro}"))
    rig = Rig(tmp_path, settings=settings, run_click=run_click_action)
    started = time.monotonic()
    rig.mailbox.post(m.Clicked(Notice("x", "y", member_id="BQ 88")))
    rig.run_posted()
    rig.handle(make_entry(1))
    assert time.monotonic() - started < 3.0 and [n.entry_id for n in rig.shown] == [1]
    deadline = time.monotonic() + 10
    while not opened.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert opened.read_text(encoding="utf-8").strip() == "https://gym.example/socio/BQ%2088"
