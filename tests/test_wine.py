"""Smoke tests of the Windows build (``dist/windows/AvisoEntradas.exe`` from ``build/wine.sh``) under Wine.

What runs here is the real one-file Windows executable: Windows CPython 3.12, the win_amd64 wheels, keyring's
WinVault backend on Wine's Credential Manager, Wine's registry, and the Windows psycopg2/libpq talking to the
Linux test PostgreSQL on 127.0.0.1. Without the executable these tests skip, unless ``AVISO_REQUIRE_WINE=1``
(``build/dev.sh test`` sets it after building) makes that a failure.

Wine detail: every call goes through pipes (stdin/stdout/stderr); a regular file as stdout makes Wine 8's
Windows CPython fail at start-up (see build/wine.sh).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import Database
from deploy_support import bundled_modules, is_fresh, xvfb_display

from agent import __version__
from agent.core import config
from agent.db.simulate import insert_entries

pytestmark = pytest.mark.wine

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(os.environ.get("AVISO_WINE_EXE", ROOT / "dist" / "windows" / "AvisoEntradas.exe"))
PREFIX = ROOT / "build" / "work" / "wine" / "prefix"
WIN_PYTHON = ROOT / "build" / "work" / "wine" / "python" / "python.exe"
RUN_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run"


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private Xvfb display for the whole Wine session: Wine's desktop process (explorer.exe, the tray host)
    starts with the first Wine call of the session; started without a display, window creation fails later."""
    with xvfb_display("AVISO_REQUIRE_WINE") as name:
        yield name


@pytest.fixture(scope="module")
def wine_env(display: str) -> Iterator[dict[str, str]]:
    if shutil.which("wine") is None or not is_fresh(EXE):
        reason = f"no wine, or no {EXE} built from the current sources (build/wine.sh all builds it)"
        if os.environ.get("AVISO_REQUIRE_WINE"):
            pytest.fail(reason)
        pytest.skip(reason)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVISO_", "PG", "PYTHON", "DBUS", "DISPLAY"))}
    env.update(
        WINEPREFIX=str(PREFIX),
        WINEARCH="win64",
        WINEDEBUG="-all",
        WINEDLLOVERRIDES="mscoree,mshtml=",
        AVISO_LANG="en",
        DISPLAY=display,
    )
    # A Wine session left by the build (no display) would be reused: end it so this one starts on `display`.
    subprocess.run(["wineserver", "-k"], env=env, capture_output=True, timeout=60)
    yield env
    # End this prefix's Wine session (wineserver, explorer.exe, services.exe started by these tests).
    subprocess.run(["wineserver", "-k"], env=env, capture_output=True, timeout=60)


def win_path(path: Path) -> str:
    """Wine maps the Linux root to drive Z:."""
    return "Z:" + str(path).replace("/", "\\")


@pytest.fixture
def user(wine_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """A Windows user environment with its own settings files and log folder (the prefix is shared)."""
    env = dict(wine_env)
    env["AVISO_CONFIG_FILE"] = win_path(tmp_path / "config.toml")
    env["AVISO_MACHINE_CONFIG_FILE"] = win_path(tmp_path / "machine.toml")
    env["AVISO_LOG_DIR"] = win_path(tmp_path / "logs")
    yield env


def wine(env: dict[str, str], *args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["wine", str(EXE), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def vault_password(env: dict[str, str], account: str) -> str:
    """Read Wine's Credential Manager with the Windows CPython directly (not through the exe)."""
    code = (
        "import sys; from keyring.backends.Windows import WinVaultKeyring; "
        "print(WinVaultKeyring().get_password(sys.argv[1], sys.argv[2]))"
    )
    out = subprocess.run(
        ["wine", str(WIN_PYTHON), "-c", code, config.CREDENTIAL_SERVICE, account],
        input="",
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**env, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_version(wine_env: dict[str, str]) -> None:
    out = wine(wine_env, "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Aviso de Entradas {__version__}"


def test_configure_stores_the_password_in_the_windows_credential_store(user: dict[str, str], db: Database) -> None:
    args = ["--host", db.server.host, "--port", str(db.server.port), "--database", db.name, "--sslmode", "prefer"]
    out = wine(user, "configure", *args, "--password-stdin", stdin=db.pos_password + "\r\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "connection: OK" in out.stdout
    assert "Trigger: installed and enabled" in out.stdout
    assert "password saved in Windows Credential Manager (service" in out.stdout  # where it went, no class names
    account = config.credential_account(
        config.ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name)
    )
    assert vault_password(user, account) == db.pos_password
    show = wine(user, "configure", "--show")
    assert show.returncode == 0, show.stderr
    assert f"password of {account}: stored" in show.stdout


@pytest.mark.timeout(300)
def test_listen_json_count_1_receives_an_entry(user: dict[str, str], db: Database) -> None:
    env = {**user, "PGPASSWORD": db.pos_password}
    dsn = f"host={db.server.host} port={db.server.port} dbname={db.name} user=pos_user"
    proc = subprocess.Popen(
        ["wine", str(EXE), "listen", "--json", "--count", "1", "--timeout", "90", "--dsn", dsn],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        cwd=ROOT,
    )
    seen: list[str] = []
    listening = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "Listening on channel" in line:
                listening.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert listening.wait(90), "".join(seen)
        inserted = insert_entries(db.admin_dsn(), count=1)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert proc.wait(timeout=60) == 0, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    entry = json.loads(line)
    assert entry["id_entrada"] == inserted[0].entry_id
    assert entry["id_miembro"] == inserted[0].member_id


def test_autostart_writes_the_run_key(wine_env: dict[str, str]) -> None:
    def reg_query() -> str:
        out = subprocess.run(
            ["wine", "reg", "query", RUN_KEY], input="", capture_output=True, text=True, env=wine_env, timeout=60
        )
        return out.stdout

    on = wine(wine_env, "autostart", "on")
    assert on.returncode == 0, on.stderr
    assert RUN_KEY + "\\AvisoEntradas" in on.stdout
    line = next(row for row in reg_query().splitlines() if "AvisoEntradas" in row)
    assert "REG_SZ" in line and line.rstrip().endswith("AvisoEntradas.exe")
    status = wine(wine_env, "autostart", "status")
    assert status.stdout.startswith("autostart: on")
    off = wine(wine_env, "autostart", "off")
    assert off.returncode == 0 and off.stdout.startswith("autostart: off")
    assert "AvisoEntradas" not in reg_query()


@pytest.mark.timeout(300)
def test_tray_starts_without_winrt_and_falls_back(user: dict[str, str], db: Database, tmp_path: Path) -> None:
    """The tray agent under Wine (no WinRT toasts there): it must fall back, connect with the keyring password,
    process an entry and quit cleanly at --duration."""
    args = ["--host", db.server.host, "--port", str(db.server.port), "--database", db.name, "--sslmode", "prefer"]
    configured = wine(user, "configure", *args, "--password-stdin", stdin=db.pos_password + "\r\n")
    assert configured.returncode == 0, configured.stdout + configured.stderr
    started = time.monotonic()
    proc = subprocess.Popen(
        ["wine", str(EXE), "tray", "--duration", "12"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=user,
        cwd=ROOT,
    )
    log_file = tmp_path / "logs" / "aviso-entradas.log"
    inserted = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            text = log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""
            if any(s in text for s in ("Escuchando (", "Listening (", "Escuchando canal", "Listening on channel")):
                inserted = insert_entries(db.admin_dsn(), count=1)
                break
            time.sleep(0.5)
        try:
            stdout, stderr = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            stdout, stderr = "", "did not exit 90 s after --duration"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""
    assert proc.returncode == 0, f"rc={proc.returncode}\n{stdout}\n{stderr}\n{log}"
    assert inserted is not None, f"never listening after {time.monotonic() - started:.0f} s:\n{log}"
    assert "unavailable: winrt" in log, log  # the chooser's one line: "notifiers: balloon -> console (unavailable: …)"
    assert "notifiers: balloon" in log, log
    assert str(inserted[0].entry_id) in log, log


def test_exe_is_windowed_with_icon_and_version_resource_from_the_single_source() -> None:
    """Read the PE file itself (pefile): GUI subsystem, an icon, and FileVersion == agent.__version__."""
    if not is_fresh(EXE):
        if os.environ.get("AVISO_REQUIRE_WINE"):
            pytest.fail(f"no {EXE} built from the current sources")
        pytest.skip(f"no {EXE} built from the current sources (build/wine.sh all)")
    import pefile

    pe = pefile.PE(str(EXE))
    try:
        assert pe.OPTIONAL_HEADER.Subsystem == pefile.SUBSYSTEM_TYPE["IMAGE_SUBSYSTEM_WINDOWS_GUI"]
        kinds = {pefile.RESOURCE_TYPE.get(e.id, e.id) for e in pe.DIRECTORY_ENTRY_RESOURCE.entries}
        assert {"RT_ICON", "RT_GROUP_ICON", "RT_VERSION"} <= kinds
        strings: dict[str, str] = {}
        for info in pe.FileInfo[0]:
            for table in getattr(info, "StringTable", []):
                strings.update({k.decode(): v.decode() for k, v in table.entries.items()})
    finally:
        pe.close()
    assert strings["FileVersion"] == __version__
    assert strings["ProductVersion"] == __version__
    assert strings["OriginalFilename"] == "AvisoEntradas.exe"


def start_page_exe(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``AvisoEntradas.exe settings --no-browser`` (the local page of the exe); returns it and the page's URL."""
    proc = subprocess.Popen(
        ["wine", str(EXE), "settings", "--no-browser", "--timeout", "240"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/[\w-]+/)#settings", line)
    if not match:
        proc.kill()
        _, err = proc.communicate(timeout=60)
        pytest.fail(f"no page address from the exe: {line!r}\n{err}")
    return proc, match.group(1)


def page_call(url: str, method: str, path: str, data: dict[str, object] | None = None) -> tuple[int, bytes]:
    """One request to the exe's page, as its own script would send it (same Origin, JSON)."""
    parts = urlsplit(url + path)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)
    headers = {"Origin": f"http://{parts.netloc}", "Content-Type": "application/json"} if data is not None else {}
    conn.request(method, parts.path, body=None if data is None else json.dumps(data).encode(), headers=headers)
    response = conn.getresponse()
    out = response.status, response.read()
    conn.close()
    return out


@pytest.mark.timeout(400)
def test_page_served_by_the_exe_lists_todays_rows(user: dict[str, str], db: Database) -> None:
    """The exe serves the local page (its HTML/JS bundled), reads today's entries from the Linux PostgreSQL with
    the password from Wine's Credential Manager, refuses a request without the token, and closes with exit 3."""
    args = ["--host", db.server.host, "--port", str(db.server.port), "--database", db.name, "--sslmode", "prefer"]
    configured = wine(user, "configure", *args, "--password-stdin", stdin=db.pos_password + "\r\n")
    assert configured.returncode == 0, configured.stdout + configured.stderr
    inserted = insert_entries(db.admin_dsn(), count=3)
    proc, url = start_page_exe(user)
    try:
        status, body = page_call(url, "GET", "api/today")
        assert status == 200, body
        rows = json.loads(body)["rows"]
        assert {r["id"] for r in rows} >= {e.entry_id for e in inserted}, rows
        assert all(r["name"] and r["status"] and r["tone"] in ("ok", "bad", "warn", "special") for r in rows)
        status, html = page_call(url, "GET", "")
        assert status == 200 and b'<table id="entries">' in html
        assert page_call(url, "GET", "page.js")[0] == 200
        base = url.rsplit("/", 2)[0] + "/"
        assert page_call(base, "GET", "api/today")[0] == 404  # no token
        assert page_call(url, "POST", "api/close", {}) == (200, b'{"ok": true}')
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, stdout + stderr


@pytest.mark.timeout(400)
def test_settings_form_saves_through_the_exe_page(user: dict[str, str], db: Database, tmp_path: Path) -> None:
    """Headless Chromium fills the exe's settings form: the new server is checked and saved, the password lands in
    Wine's Credential Manager, the exe exits 0, and the password is in no output, log or URL."""
    from cdp_pipe import Chromium, require_chromium

    require_chromium()
    password = db.pos_password
    proc, url = start_page_exe(user)
    browser = Chromium(tmp_path / "profile")
    try:
        browser.navigate(url + "#settings")
        browser.wait_for("document.getElementById('f-host') !== null", timeout_s=60)
        browser.eval(
            "(() => { const set = (n, v) => { document.getElementById('f-' + n).value = v; };"
            f" set('host', {db.server.host!r}); set('port', '{db.server.port}'); set('database', {db.name!r});"
            " set('sslmode', 'prefer');"  # the test server has no TLS; a new configuration starts at require
            f" set('password', {password!r}); document.getElementById('save').click(); }})()"
        )
        browser.wait_for("document.body.dataset.saved === '1'", timeout_s=120)
        result = browser.eval("document.getElementById('result').textContent")
        href = browser.eval("location.href")
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        browser.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stdout + stderr
    assert "Trigger: installed and enabled" in result, result
    account = config.credential_account(
        config.ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name)
    )
    assert vault_password(user, account) == password
    saved = (tmp_path / "config.toml").read_text(encoding="utf-8")
    assert db.name in saved and password not in saved
    logs = "".join(p.read_text(encoding="utf-8", errors="replace") for p in (tmp_path / "logs").glob("*.log*"))
    for text in (stdout, stderr, logs, href, result):
        assert password not in text


def test_windows_dependency_set_was_resolved_for_windows() -> None:
    """build/wine.sh resolves requirements.txt with uv for x86_64-pc-windows-msvc: win32 markers apply."""
    lock = ROOT / "build" / "work" / "wine" / "requirements-win.txt"
    if not lock.is_file():
        if os.environ.get("AVISO_REQUIRE_WINE"):
            pytest.fail(f"no {lock}")
        pytest.skip(f"no {lock} (build/wine.sh prepare)")
    pins = {
        line.split("==")[0].lower()
        for line in lock.read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }
    assert {"pywin32-ctypes", "windows-toasts", "winrt-runtime", "pystray", "psycopg2-binary", "keyring"} <= pins
    assert not pins & {"secretstorage", "jeepney", "python-xlib", "desktop-notifier", "dbus-fast", "pgserver"}


def test_configure_keeps_a_non_ascii_password_intact(user: dict[str, str], db: Database) -> None:
    """Piped UTF-8 (as PowerShell 7 sends it) reaches the Credential Manager unchanged."""
    role, password = "aviso_wine_user", "contraseña-Ü-€"
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD %s', (password,))
        cur.execute(f'GRANT SELECT ON registro_entradas, miembros TO "{role}"')  # configure checks read access
    try:
        args = [
            "--host", db.server.host, "--port", str(db.server.port), "--database", db.name, "--user", role,
            "--sslmode", "prefer",  # the test server has no TLS; new configurations default to require
        ]  # fmt: skip
        out = subprocess.run(
            ["wine", str(EXE), "configure", *args, "--password-stdin"],
            input=("\ufeff" + password + "\r\n").encode("utf-8"),
            capture_output=True,
            env=user,
            cwd=ROOT,
            timeout=120,
        )
        text = out.stdout.decode("utf-8", "replace") + out.stderr.decode("utf-8", "replace")
        assert out.returncode == 0, text
        account = config.credential_account(
            config.ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name, user=role)
        )
        assert vault_password(user, account) == password
    finally:
        with db.connect_admin() as admin, admin.cursor() as cur:
            cur.execute(f'DROP OWNED BY "{role}"')
            cur.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_exe_bundles_the_windows_backends_and_not_pgserver() -> None:
    if not is_fresh(EXE):
        if os.environ.get("AVISO_REQUIRE_WINE"):
            pytest.fail(f"no {EXE} built from the current sources")
        pytest.skip(f"no {EXE} built from the current sources (build/wine.sh all)")
    names = bundled_modules(EXE)
    assert {
        "keyring.backends.Windows",
        "win32ctypes.pywin32.win32cred",
        "pystray._win32",
        "windows_toasts",
        "winrt.windows.ui.notifications",
        "agent.cli.deploy",
        "agent.adapters.autostart_windows",
    } <= names
    assert not {n for n in names if n.startswith("pgserver")}


def windows_folder(env: dict[str, str], variable: str) -> Path:
    """The Linux path of a Windows environment folder (``%TEMP%``, ``%LOCALAPPDATA%``) in the test prefix."""
    shown = subprocess.run(
        ["wine", "cmd", "/c", f"echo %{variable}%"], input="", capture_output=True, text=True, env=env, timeout=60
    ).stdout.strip()
    assert shown and "%" not in shown, f"{variable}: {shown!r}"
    unix = subprocess.run(
        ["winepath", "-u", shown], input="", capture_output=True, text=True, env=env, timeout=60
    ).stdout.strip()
    return Path(unix)


LISTENING = "connection state: listening"


def _bundles(folder: Path) -> set[Path]:
    return set(folder.glob("_MEI*")) if folder.is_dir() else set()


@pytest.mark.timeout(400)
def test_runtime_folder_is_outside_temp_and_survives_a_temp_cleanup(
    user: dict[str, str], db: Database, tmp_path: Path
) -> None:
    """Issue 11 item 7: the one-file exe unpacks to %LOCALAPPDATA%\\AvisoEntradas\\runtime (agent.spec
    ``runtime_tmpdir``), not %TEMP%. While the tray runs, %TEMP% is emptied the way Storage Sense would; the tray's
    unpacked files must be untouched and what it uses later must still work: a reconnect after its server
    connection is killed, entries after that, and the same exe's ``doctor`` and ``listen`` started afterwards."""
    temp = windows_folder(user, "TEMP")
    runtime = windows_folder(user, "LOCALAPPDATA") / "AvisoEntradas" / "runtime"
    args = ["--host", db.server.host, "--port", str(db.server.port), "--database", db.name, "--sslmode", "prefer"]
    configured = wine(user, "configure", *args, "--password-stdin", stdin=db.pos_password + "\r\n")
    assert configured.returncode == 0, configured.stdout + configured.stderr
    temp_before, runtime_before = _bundles(temp), _bundles(runtime)
    proc = subprocess.Popen(
        ["wine", str(EXE), "tray", "--duration", "60"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=user,
        cwd=ROOT,
    )
    log_file = tmp_path / "logs" / "aviso-entradas.log"

    def log() -> str:
        return log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""

    def wait_for(check: Any, what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            if check():
                return
            time.sleep(0.5)
        raise AssertionError(f"{what} (rc={proc.poll()}):\n{log()}")

    try:
        # The desk's own state line (the engine's "Escuchando ..." line is the engine's wording to keep).
        wait_for(lambda: LISTENING in log(), "never listening")
        ours = _bundles(runtime) - runtime_before
        assert len(ours) == 1, f"expected the tray's one unpack folder in {runtime}: {ours}"
        bundle = ours.pop()
        assert _bundles(temp) == temp_before, "the exe unpacked to %TEMP% again"
        # What later imports and lookups need: extension modules, DLLs and the data files.
        needed = [*bundle.glob("*.pyd"), *bundle.glob("*.dll"), *(bundle / "sql").glob("*.sql")]
        assert len(needed) > 10 and (bundle / "assets").is_dir(), sorted(p.name for p in bundle.iterdir())
        # Storage Sense / a cleanup tool: everything under %TEMP% goes.
        for child in list(temp.iterdir()):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        assert all(p.exists() for p in needed), "files of the running exe were under %TEMP%"

        first = insert_entries(db.admin_dsn(), count=1)
        wait_for(lambda: f"ID: {first[0].entry_id}" in log(), "entry before the reconnect not processed")
        with db.connect_admin() as admin, admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND usename = 'pos_user'",
                (db.name,),
            )
            assert cur.rowcount >= 1
        listening = log().count(LISTENING)
        wait_for(lambda: log().count(LISTENING) > listening, "no reconnect after the server connection was killed")
        second = insert_entries(db.admin_dsn(), count=1)
        wait_for(lambda: f"ID: {second[0].entry_id}" in log(), "entry after the reconnect not processed")

        # The same exe started now (it unpacks again, beside the tray's folder) still works.
        doctor = wine(user, "doctor", "--json")
        report = json.loads(doctor.stdout)
        checks = {c["check"]: c["status"] for c in report["checks"]}
        assert checks.get("listen") == "ok" and checks.get("trigger") == "ok", doctor.stdout + doctor.stderr
        assert _bundles(temp) == set(), "doctor unpacked to %TEMP%"
        assert "Traceback" not in log(), log()
        try:
            stdout, stderr = proc.communicate(timeout=120)  # the tray quits by itself at --duration
        except subprocess.TimeoutExpired:
            stdout, stderr = "", "did not exit 120 s after --duration"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"rc={proc.returncode}\n{stdout}\n{stderr}\n{log()}"
    assert not bundle.exists(), "the tray's unpack folder was not removed at exit"
