"""TLS against a real server: a self-signed CA and a server certificate made here with ``openssl``, a throwaway
PostgreSQL with ``ssl = on``; ``verify-full`` connects, a wrong host name, an untrusted CA, a missing CA file and
``require`` against a server without TLS are refused, each classified as :data:`Problem.TLS` with advice.

The server certificate names ``torniquete.test``; connections use ``host=torniquete.test hostaddr=127.0.0.1``, so
libpq verifies the name while connecting to loopback (PostgreSQL docs, libpq "SSL Support": with ``verify-full``
the host name is matched against the certificate's Subject Alternative Names).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg2
import pytest

from agent import doctor
from agent.core.advice import Problem
from agent.db import throwaway
from agent.db.connect import ConnectError, connection_kwargs, open_connection
from agent.doctor import Status, Target

NAME = "torniquete.test"


@dataclass
class TlsServer:
    server: throwaway.ThrowawayPostgres
    ca: Path
    other_ca: Path

    def dsn(self, host: str = NAME, **extra: str | int) -> str:
        return self.server.dsn(host=host, hostaddr="127.0.0.1", **extra)


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr}")


def make_ca(workdir: Path, stem: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", f"/CN=Aviso test CA {stem}", "-keyout", f"{stem}.key", "-out", f"{stem}.crt",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=workdir,
    )  # fmt: skip


def make_server_cert(workdir: Path) -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={NAME}",
        "-keyout", "server.key", "-out", "server.csr", cwd=workdir,
    )  # fmt: skip
    (workdir / "ext.cnf").write_text(
        f"subjectAltName=DNS:{NAME}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.crt", cwd=workdir,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    if os.environ.get("AVISO_PG_DSN"):
        pytest.skip("needs a throwaway server (AVISO_PG_DSN points at an external one)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not found")
    workdir = Path(tempfile.mkdtemp(prefix="aviso-tls-"))
    make_ca(workdir, "ca")
    make_ca(workdir, "other")
    make_server_cert(workdir)
    # pgserver's PostgreSQL is built without OpenSSL: prefer the machine's binaries, whatever AVISO_PG_BACKEND says.
    try:
        throwaway.find_bindir("system")
        backend = "system"
    except throwaway.ServerError:
        backend = os.environ.get("AVISO_PG_BACKEND", "auto")
    server = throwaway.ThrowawayPostgres(backend).start()
    try:
        admin = psycopg2.connect(server.dsn())
        with admin.cursor() as cur:
            cur.execute("SELECT current_setting('ssl_library')")
            ssl_library = cur.fetchone()[0]
        admin.close()
        if not ssl_library:
            pytest.skip(f"this PostgreSQL ({server.bindir}) is built without TLS support")
        # The key must belong to the server's user, mode 0600 (PostgreSQL docs, "Secure TCP/IP Connections with
        # SSL"); the data directory is that user's, so put the files there and turn TLS on with a reload.
        owner = server.datadir.stat()
        for name in ("server.crt", "server.key"):
            target = server.datadir / name
            shutil.copyfile(workdir / name, target)
            os.chown(target, owner.st_uid, owner.st_gid)
            os.chmod(target, 0o600)
        admin = psycopg2.connect(server.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("ALTER SYSTEM SET ssl_cert_file = 'server.crt'")
            cur.execute("ALTER SYSTEM SET ssl_key_file = 'server.key'")
            cur.execute("ALTER SYSTEM SET ssl = on")
            cur.execute("SELECT pg_reload_conf()")
            cur.execute("CREATE ROLE pos_user LOGIN PASSWORD 'tls-test-pw'")
        admin.close()
        yield TlsServer(server, workdir / "ca.crt", workdir / "other.crt")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _connect(dsn: str, **kw: str | bool) -> psycopg2.extensions.connection:
    return open_connection(connection_kwargs(dsn, **kw))  # type: ignore[no-any-return]


def test_verify_full_connects_and_is_encrypted(tls_server: TlsServer) -> None:
    conn = _connect(tls_server.dsn(), sslmode="verify-full", sslrootcert=str(tls_server.ca))
    try:
        assert conn.info.ssl_in_use
        assert conn.info.ssl_attribute("protocol") in ("TLSv1.2", "TLSv1.3")
        with conn.cursor() as cur:
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert cur.fetchone()[0] is True  # the server agrees
    finally:
        conn.close()


def test_wrong_host_name_is_refused(tls_server: TlsServer) -> None:
    with pytest.raises(ConnectError) as info:
        _connect(tls_server.dsn(host="otro.test"), sslmode="verify-full", sslrootcert=str(tls_server.ca))
    assert info.value.problem is Problem.TLS
    assert f'server certificate for "{NAME}" does not match host name "otro.test"' in str(info.value)
    # verify-ca checks the chain but not the name: the same wrong name is accepted (why verify-full matters).
    _connect(tls_server.dsn(host="otro.test"), sslmode="verify-ca", sslrootcert=str(tls_server.ca)).close()


def test_untrusted_ca_and_missing_ca_file_are_refused(tls_server: TlsServer) -> None:
    with pytest.raises(ConnectError) as info:
        _connect(tls_server.dsn(), sslmode="verify-full", sslrootcert=str(tls_server.other_ca))
    assert info.value.problem is Problem.TLS
    assert "certificate verify failed" in str(info.value)
    with pytest.raises(ConnectError) as info:
        _connect(tls_server.dsn(), sslmode="verify-full", sslrootcert="/nonexistent/ca.crt")
    assert info.value.problem is Problem.TLS


def test_require_against_a_server_without_tls_is_refused(pg_server: throwaway.Postgres) -> None:
    with pytest.raises(ConnectError) as info:
        _connect(pg_server.dsn(), sslmode="require")
    assert info.value.problem is Problem.TLS
    assert "server does not support SSL" in str(info.value)


def test_unknown_sslmode_is_rejected_before_connecting(pg_server: throwaway.Postgres) -> None:
    with pytest.raises(ValueError, match="unknown sslmode"):
        connection_kwargs("host=x", sslmode="verify_full")
    report = doctor.run(Target(dsn=pg_server.dsn(), sslmode="verify_full"), lang="en")
    r = report.result("tls_handshake")
    assert r.status is Status.FAIL and r.detail == "sslmode 'verify_full' does not exist"
    assert "verify-full" in r.advice


def test_doctor_reports_tls(tls_server: TlsServer) -> None:
    base = Target(dsn=tls_server.dsn(user="pos_user"), password="tls-test-pw", listen_timeout_s=2.0)
    verified = doctor.run(replace(base, sslmode="verify-full", sslrootcert=str(tls_server.ca)), lang="en")
    r = verified.result("tls")
    assert r.status is Status.OK and "server verified (verify-full)" in r.detail, verified.table()
    assert verified.result("tls_handshake").status is Status.OK

    unverified = doctor.run(replace(base, sslmode="require"), lang="en")
    r = unverified.result("tls")
    assert r.status is Status.WARN and "sslmode=require" in r.detail
    assert "verify-full" in r.advice

    wrong_host = replace(base, dsn=tls_server.dsn(host="otro.test", user="pos_user"))
    wrong = doctor.run(replace(wrong_host, sslmode="verify-full", sslrootcert=str(tls_server.ca)), lang="en")
    r = wrong.result("tls_handshake")
    assert r.status is Status.FAIL and r.problem is Problem.TLS
    assert "does not match host name" in r.detail
    assert "sslrootcert" in r.advice
    assert wrong.result("auth").status is Status.SKIP
    assert not wrong.ok


def test_doctor_warns_when_a_remote_connection_is_not_encrypted(tls_server: TlsServer) -> None:
    """host names another machine (here: a name mapped to loopback by hostaddr) and sslmode=disable -> warning."""
    report = doctor.run(
        Target(dsn=tls_server.dsn(user="pos_user"), password="tls-test-pw", sslmode="disable"), lang="en"
    )
    r = report.result("tls")
    assert r.status is Status.WARN and "not encrypted" in r.detail
    assert "hostssl" in r.advice


def test_doctor_names_a_stale_default_root_crt_as_tls_never_the_password(
    tls_server: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``~/.postgresql/root.crt`` left by another tool (another CA) makes plain libpq verify the server under
    ``sslmode=require``, and fail. Through the connection layer doctor does not fall into it (the file is named as
    ignored); under ``verify-full`` without ``sslrootcert`` it is libpq's trust anchor, and doctor names it as the
    cause under TLS. Never the password."""
    (tmp_path / ".postgresql").mkdir()
    stale = tmp_path / ".postgresql" / "root.crt"
    shutil.copyfile(tls_server.other_ca, stale)
    monkeypatch.setenv("HOME", str(tmp_path))  # libpq 16+ takes the home directory from HOME first
    with pytest.raises(psycopg2.OperationalError, match="certificate verify failed"):  # the trap, as libpq springs it
        psycopg2.connect(tls_server.dsn(user="pos_user"), password="tls-test-pw", sslmode="require").close()
    base = Target(dsn=tls_server.dsn(user="pos_user"), password="tls-test-pw", listen_timeout_s=2.0)

    for sslmode in ("require", "prefer"):
        report = doctor.run(replace(base, sslmode=sslmode), lang="en")
        assert report.result("tls_handshake").status is Status.OK, report.table()
        assert report.result("auth").status is Status.OK
        r = report.result("tls")
        assert r.status is Status.WARN and f"sslmode={sslmode}" in r.detail, report.table()  # encrypted, unverified
        assert f"({stale} exists and is ignored" in r.detail

    verify = doctor.run(replace(base, sslmode="verify-full"), lang="en")
    r = verify.result("tls_handshake")
    assert r.status is Status.FAIL and r.problem is Problem.TLS, verify.table()
    assert str(stale) in r.detail and "certificate verify failed" in r.detail
    assert "not the password" in r.advice and str(stale) in r.advice
    assert verify.result("auth").status is Status.SKIP  # never blamed on the password
    assert not verify.ok

    # Without the stale file nothing is named.
    stale.unlink()
    clean = doctor.run(replace(base, sslmode="require"), lang="en")
    assert clean.result("tls_handshake").status is Status.OK, clean.table()
    assert str(stale) not in clean.table(width=400)


# ---------------------------------------------------------------------------------------------------------------
# Connection side of TLS trust (agent/db/connect.py NO_ROOT_CERT, agent/deploy/tls.py, agent/deploy/connection.py)


@pytest.fixture
def stale_home(tls_server: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME with a ``~/.postgresql/root.crt`` left by "another tool": a CA that did not sign our server."""
    home = tmp_path / "home"
    (home / ".postgresql").mkdir(parents=True)
    shutil.copyfile(tls_server.other_ca, home / ".postgresql" / "root.crt")
    monkeypatch.setenv("HOME", str(home))
    for var in ("PGSSLROOTCERT", "PGSSLMODE", "SSL_CERT_FILE"):
        monkeypatch.delenv(var, raising=False)
    return home / ".postgresql" / "root.crt"


def test_a_stale_default_root_crt_is_not_used_under_require(tls_server: TlsServer, stale_home: Path) -> None:
    from agent.db.connect import NO_ROOT_CERT, default_root_cert

    assert default_root_cert() == stale_home
    dsn = tls_server.dsn(user="pos_user")
    # the premise: libpq itself verifies against that file under require and fails (a TLS error, not the password)
    with pytest.raises(ConnectError) as info:
        _connect(dsn, password="tls-test-pw", sslmode="require", ignore_default_root_cert=False)
    assert info.value.problem is Problem.TLS and "certificate verify failed" in str(info.value)
    # ours: the configured mode is honoured (encrypted, nothing verified), the stale file is ignored
    kwargs = connection_kwargs(dsn, password="tls-test-pw", sslmode="require")
    assert kwargs["sslrootcert"] == NO_ROOT_CERT
    conn = open_connection(kwargs)
    try:
        assert conn.info.ssl_in_use
    finally:
        conn.close()


def test_a_stale_default_root_crt_no_longer_downgrades_prefer_to_plain(tls_server: TlsServer, stale_home: Path) -> None:
    """Under prefer, libpq answers a failed verification by retrying without TLS: the session runs unencrypted
    (this server's pg_hba allows plain host lines). With the agent's policy it stays encrypted."""
    dsn = tls_server.dsn(user="pos_user")
    plain = _connect(dsn, password="tls-test-pw", sslmode="prefer", ignore_default_root_cert=False)
    try:
        assert not plain.info.ssl_in_use  # the silent downgrade the policy prevents
    finally:
        plain.close()
    ours = _connect(dsn, password="tls-test-pw", sslmode="prefer")
    try:
        assert ours.info.ssl_in_use
    finally:
        ours.close()


def test_resolved_settings_ignore_the_stale_file_but_verify_modes_keep_libpqs_default(
    tls_server: TlsServer, stale_home: Path
) -> None:
    from agent.core.config import ConnectionSettings
    from agent.deploy.connection import resolve

    server = tls_server.server
    settings = ConnectionSettings(host=server.host, port=server.port, database="postgres", sslmode="require")
    params = resolve(settings, password_override="tls-test-pw")
    conn = open_connection(params.connect_kwargs())
    try:
        assert conn.info.ssl_in_use
    finally:
        conn.close()
    # verify-full with no sslrootcert: libpq's default file is the documented trust anchor and is kept; the stale
    # one fails as a TLS problem, and default_root_cert() lets doctor name it as the cause
    kwargs = connection_kwargs(tls_server.dsn(user="pos_user"), password="tls-test-pw", sslmode="verify-full")
    assert "sslrootcert" not in kwargs
    with pytest.raises(ConnectError) as info:
        open_connection(kwargs)
    assert info.value.problem is Problem.TLS


def _bundle(tmp_path: Path, *certs: Path) -> Path:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("".join(c.read_text() for c in certs), encoding="ascii")
    return bundle


def test_sslrootcert_system_uses_the_bundle_the_os_store_names(
    tls_server: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What this proves: `system` is turned into the CA bundle the OS store points at (here SSL_CERT_FILE, as set
    for OpenSSL), libpq verifies the server against it with verify-full, and the raw keyword would not have worked
    with psycopg2-binary's OpenSSL. It does not add our test CA to the machine's real store."""
    from agent.deploy.connection import resolve

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    dsn = tls_server.dsn(user="pos_user")
    with pytest.raises(ConnectError) as info:  # the premise: the wheel's OpenSSL finds no CA store of its own
        _connect(dsn, password="tls-test-pw", sslmode="verify-full", sslrootcert="system")
    assert info.value.problem is Problem.TLS
    bundle = _bundle(tmp_path, Path("/etc/ssl/certs/ca-certificates.crt"), tls_server.ca)
    env = {"SSL_CERT_FILE": str(bundle)}
    params = resolve(None, dsn_override=dsn, password_override="tls-test-pw", sslrootcert="system", env=env)
    assert params.sslmode == "verify-full" and params.sslrootcert == str(bundle)
    conn = open_connection(params.connect_kwargs())
    try:
        assert conn.info.ssl_in_use
    finally:
        conn.close()
    # the machine's own bundle does not hold the test CA: refused by verification, as a TLS problem
    params = resolve(None, dsn_override=dsn, password_override="tls-test-pw", sslrootcert="system", env={})
    assert Path(params.sslrootcert).is_file()
    with pytest.raises(ConnectError) as info:
        open_connection(params.connect_kwargs())
    assert info.value.problem is Problem.TLS and "certificate verify failed" in str(info.value)


def test_sslrootcert_system_is_refused_clearly_when_it_cannot_work() -> None:
    from agent.core.config import ConnectionSettings
    from agent.deploy import tls
    from agent.deploy.connection import TlsSettingsError, resolve

    with pytest.raises(TlsSettingsError) as err:
        resolve(ConnectionSettings(sslmode="verify-full", sslrootcert="system"), env={"SSL_CERT_FILE": "/nope.pem"})
    assert err.value.reason == "bad_env" and "/nope.pem" in err.value.message("en")
    with pytest.raises(TlsSettingsError) as err:
        resolve(ConnectionSettings(sslmode="require", sslrootcert="system"), password_override="x")
    assert err.value.reason == "weak_sslmode" and "verify-full" in err.value.message("es")
    with pytest.raises(tls.SystemRootsError) as roots:
        tls.system_bundle(env={}, candidates=["/nonexistent/ca.pem"])
    assert roots.value.reason == "no_bundle"
    assert "ca-certificates" in TlsSettingsError("no_bundle").message("en")


def test_windows_trusted_roots_are_exported_for_libpq(tls_server: TlsServer, tmp_path: Path) -> None:
    """Windows: ssl.enum_certificates (a Windows API, faked here at that boundary with real certificates) ->
    a PEM file with only server-authentication CAs, which libpq then verifies the server against."""
    import ssl

    from agent.deploy import tls

    ca_der = ssl.PEM_cert_to_DER_cert(tls_server.ca.read_text())
    other_der = ssl.PEM_cert_to_DER_cert(tls_server.other_ca.read_text())
    stores = {
        "ROOT": [
            (ca_der, "x509_asn", True),
            (other_der, "x509_asn", {"1.3.6.1.5.5.7.3.4"}),
            (b"x", "pkcs_7_asn", True),
        ],
        "CA": [(ca_der, "x509_asn", {tls.SERVER_AUTH_OID})],
    }
    path = tls.resolve_rootcert("verify-full", "system", data_dir=tmp_path, enum_certificates=stores.__getitem__)
    exported = Path(path)
    assert exported == tmp_path / "tls" / "system-roots.pem"
    text = exported.read_text()
    assert text.count("BEGIN CERTIFICATE") == 1  # the e-mail-only CA, the PKCS#7 blob and the duplicate left out
    assert ssl.PEM_cert_to_DER_cert(text) == ca_der
    before = exported.stat().st_mtime_ns
    tls.export_windows_roots(exported, stores.__getitem__)
    assert exported.stat().st_mtime_ns == before  # unchanged set: not rewritten
    _connect(tls_server.dsn(user="pos_user"), password="tls-test-pw", sslmode="verify-full", sslrootcert=path).close()
    with pytest.raises(tls.SystemRootsError) as err:
        tls.export_windows_roots(tmp_path / "none.pem", lambda _store: [])
    assert err.value.reason == "no_roots"


def test_an_it_configured_service_file_keeps_its_tls_settings(
    tls_server: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--dsn "service=turnstile"`` (libpq "Connection Service File"): the service names ``sslmode = verify-full``
    and its ``sslrootcert``. The default-file shield must not override what IT put in the service file (an explicit
    keyword beats the service file's, so a shield path there made verify-full fail with "root certificate file
    does not exist"). Also through ``PGSERVICE`` and through the one connection path."""
    from agent.deploy.connection import resolve

    server = tls_server.server
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(
        f"[turnstile]\nhost={NAME}\nhostaddr=127.0.0.1\nport={server.port}\ndbname=postgres\nuser=pos_user\n"
        f"sslmode=verify-full\nsslrootcert={tls_server.ca}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    for var in ("PGSSLROOTCERT", "PGSSLMODE", "PGSERVICE"):
        monkeypatch.delenv(var, raising=False)
    for kwargs in (
        connection_kwargs("service=turnstile", password="tls-test-pw"),
        resolve(None, dsn_override="service=turnstile", password_override="tls-test-pw").connect_kwargs(),
        connection_kwargs("", password="tls-test-pw", env={"PGSERVICE": "turnstile"}),
    ):
        if not kwargs["dsn"]:
            monkeypatch.setenv("PGSERVICE", "turnstile")
        conn = open_connection(kwargs)
        try:
            assert conn.info.ssl_in_use
        finally:
            conn.close()


def test_sslrootcert_system_refuses_a_folder_or_garbage_in_ssl_cert_file(tls_server: TlsServer, tmp_path: Path) -> None:
    """``SSL_CERT_FILE`` pointing at a folder or a file with no certificate (a key, an HTML error page saved by a
    proxy) is refused at resolve time with a sentence naming the variable, not left for libpq's later "could not
    read root certificate file"; a garbage candidate bundle is skipped for the next one."""
    from agent.deploy import tls
    from agent.deploy.connection import TlsSettingsError, resolve

    garbage = tmp_path / "proxy-error.html"
    garbage.write_text("<html>blocked</html>\n", encoding="ascii")
    dsn = tls_server.dsn(user="pos_user")
    # the premise: libpq given that file fails with a certificate-file error, far from the variable that caused it
    with pytest.raises(ConnectError) as info:
        _connect(dsn, password="tls-test-pw", sslmode="verify-full", sslrootcert=str(garbage))
    assert "root certificate" in str(info.value)
    for bad in (garbage, tmp_path):
        with pytest.raises(TlsSettingsError) as err:
            resolve(None, dsn_override=dsn, sslrootcert="system", env={"SSL_CERT_FILE": str(bad)})
        assert err.value.reason == "bad_env" and "SSL_CERT_FILE" in err.value.message("en")
        assert str(bad) in err.value.message("es")
    good = _bundle(tmp_path, tls_server.ca)
    assert tls.system_bundle(env={}, candidates=[str(garbage), str(tmp_path), str(good)]) == good.resolve()


def test_pgsslrootcert_system_from_it_is_resolved_too(
    tls_server: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IT sets ``PGSSLROOTCERT=system`` machine-wide (libpq's variable). libpq would read it itself and ask the
    bundled OpenSSL's empty store: "certificate verify failed". The one path resolves it like the keyword, and
    refuses it clearly with a weaker configured sslmode."""
    from agent.core.config import ConnectionSettings
    from agent.deploy.connection import TlsSettingsError, resolve

    monkeypatch.setenv("PGSSLROOTCERT", "system")
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR", "PGSSLMODE"):
        monkeypatch.delenv(var, raising=False)
    bundle = _bundle(tmp_path, tls_server.ca)
    env = {"PGSSLROOTCERT": "system", "SSL_CERT_FILE": str(bundle)}
    params = resolve(None, dsn_override=tls_server.dsn(user="pos_user"), password_override="tls-test-pw", env=env)
    assert params.sslmode == "verify-full" and params.sslrootcert == str(bundle)
    conn = open_connection(params.connect_kwargs())
    try:
        assert conn.info.ssl_in_use
    finally:
        conn.close()
    with pytest.raises(TlsSettingsError) as err:
        resolve(ConnectionSettings(sslmode="require"), password_override="x", env=env)
    assert err.value.reason == "weak_sslmode"


def test_concurrent_windows_root_exports_do_not_fail_each_other(tls_server: TlsServer, tmp_path: Path) -> None:
    """Several resolvers export at once (the tray's engine and its settings check, a doctor started meanwhile):
    they shared one ``.tmp`` name, so one writer's replace took the file another was writing and the others failed
    with "no_roots (... No such file or directory)"."""
    import ssl

    from agent.deploy import tls

    cas = (tls_server.ca, tls_server.other_ca)
    records = [(ssl.PEM_cert_to_DER_cert(p.read_text()), "x509_asn", True) for p in cas]
    stores = {"ROOT": records, "CA": []}
    errors: list[BaseException] = []
    for attempt in range(10):
        dest = tmp_path / str(attempt) / "tls" / "system-roots.pem"
        barrier = threading.Barrier(6)

        def export(dest: Path = dest, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                tls.export_windows_roots(dest, stores.__getitem__)
            except tls.SystemRootsError as exc:
                errors.append(exc)

        workers = [threading.Thread(target=export) for _ in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert dest.read_text().count("BEGIN CERTIFICATE") == 2
        assert [p.name for p in dest.parent.iterdir()] == ["system-roots.pem"]  # no temporary file left behind
    assert not errors, errors[:2]


def _stale_crl(workdir: Path) -> Path:
    """A CRL issued by a CA that did not sign our server (what another tool may leave in ~/.postgresql)."""
    make_ca(workdir, "crlca")
    (workdir / "index.txt").write_text("")
    (workdir / "crlnumber").write_text("01\n")
    (workdir / "ca.cnf").write_text(
        "[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\n"
        "default_crl_days = 2\n"
    )
    _openssl("ca", "-gencrl", "-keyfile", "crlca.key", "-cert", "crlca.crt", "-config", "ca.cnf", "-out", "root.crl",
             cwd=workdir)  # fmt: skip
    return workdir / "root.crl"


def test_a_stale_default_root_crl_does_not_fail_a_named_ca(
    tls_server: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq loads ``~/.postgresql/root.crl`` whenever it exists and then demands a CRL for every CA in the chain:
    a CRL of another CA made verify-full fail ("certificate verify failed") although sslrootcert named the right
    CA. With a named CA and no named CRL the default CRL is not read; a CRL IT names is still honoured."""
    from agent.deploy.connection import resolve

    home = tmp_path / "home"
    (home / ".postgresql").mkdir(parents=True)
    crl = _stale_crl(tmp_path)
    shutil.copyfile(crl, home / ".postgresql" / "root.crl")
    monkeypatch.setenv("HOME", str(home))
    for var in ("PGSSLROOTCERT", "PGSSLMODE", "PGSSLCRL", "PGSSLCRLDIR", "PGSERVICE", "SSL_CERT_FILE"):
        monkeypatch.delenv(var, raising=False)
    dsn = tls_server.dsn(user="pos_user")
    with pytest.raises(ConnectError) as info:  # the premise, as libpq springs it
        _connect(dsn, password="tls-test-pw", sslmode="verify-full", sslrootcert=str(tls_server.ca),
                 ignore_default_root_cert=False)  # fmt: skip
    assert "certificate verify failed" in str(info.value)
    params = resolve(None, dsn_override=dsn, password_override="tls-test-pw", sslmode="verify-full",
                     sslrootcert=str(tls_server.ca))  # fmt: skip
    conn = open_connection(params.connect_kwargs())
    try:
        assert conn.info.ssl_in_use
    finally:
        conn.close()
    with pytest.raises(ConnectError):  # a CRL that IT names is used as named
        _connect(dsn + f" sslcrl={crl}", password="tls-test-pw", sslmode="verify-full", sslrootcert=str(tls_server.ca))


def test_a_leftover_client_certificate_is_not_sent(
    tls_server: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq sends ``~/.postgresql/postgresql.crt`` whenever it exists. A leftover whose key is group/world
    readable made every ``require`` connection fail ("private key file ... has group or world access") and
    silently downgraded ``prefer`` to an unencrypted session. The agent authenticates with its password: no
    client certificate unless one is named (then libpq's rules apply, as the last assertion shows)."""
    home = tmp_path / "home"
    pg = home / ".postgresql"
    pg.mkdir(parents=True)
    make_ca(tmp_path, "client")
    shutil.copyfile(tmp_path / "client.crt", pg / "postgresql.crt")
    shutil.copyfile(tmp_path / "client.key", pg / "postgresql.key")
    os.chmod(pg / "postgresql.key", 0o644)
    monkeypatch.setenv("HOME", str(home))
    for var in ("PGSSLCERT", "PGSSLKEY", "PGSERVICE", "PGSSLROOTCERT", "PGSSLMODE"):
        monkeypatch.delenv(var, raising=False)
    dsn = tls_server.dsn(user="pos_user")
    with pytest.raises(ConnectError, match="group or world access"):  # the premise, as libpq springs it
        _connect(dsn, password="tls-test-pw", sslmode="require", ignore_default_root_cert=False)
    plain = _connect(dsn, password="tls-test-pw", sslmode="prefer", ignore_default_root_cert=False)
    try:
        assert not plain.info.ssl_in_use  # the silent downgrade
    finally:
        plain.close()
    import psycopg2.extensions

    from agent.db.connect import NO_ROOT_CERT

    for mode in ("require", "prefer"):
        conn = _connect(dsn, password="tls-test-pw", sslmode=mode)
        try:
            assert conn.info.ssl_in_use, mode
        finally:
            conn.close()
    with monkeypatch.context() as older:  # libpq before 16 has no sslcertmode: a file that cannot exist instead
        older.setattr(psycopg2.extensions, "libpq_version", lambda: 150000)
        kwargs = connection_kwargs(dsn, password="tls-test-pw", sslmode="require")
        assert kwargs["sslcert"] == NO_ROOT_CERT and "sslcertmode" not in kwargs
        conn = open_connection(kwargs)
        try:
            assert conn.info.ssl_in_use
        finally:
            conn.close()
    with pytest.raises(ConnectError, match="group or world access"):  # named: libpq's own rules
        _connect(dsn + f" sslcert={pg / 'postgresql.crt'} sslkey={pg / 'postgresql.key'}", password="tls-test-pw",
                 sslmode="require")  # fmt: skip
