"""``sslrootcert = system`` made concrete: the operating system's trusted CA certificates as one PEM file for libpq.

Why: libpq 16+ understands ``sslrootcert=system`` and asks OpenSSL for its default CA store, but psycopg2-binary
bundles its own OpenSSL whose ``OPENSSLDIR`` is the wheel's build folder, so that store is empty unless
``SSL_CERT_FILE`` happens to be set, and on Windows OpenSSL never reads the Windows certificate store. The result
would be a misleading "certificate verify failed". So the agent resolves ``system`` itself:

* Linux (and other POSIX): ``SSL_CERT_FILE`` when set (it must be a file holding PEM certificates: pointing it at
  nothing, a folder or another kind of file is refused, never silently replaced), else the system Python's OpenSSL
  default (``ssl.get_default_verify_paths()``), else the usual distribution bundles (Debian/Ubuntu
  ``/etc/ssl/certs/ca-certificates.crt``, Fedora/RHEL, SUSE, Alpine); a candidate without certificates is skipped.
* Windows: the certificates Windows trusts for server authentication in the machine's and user's ``ROOT`` and
  ``CA`` stores (``ssl.enum_certificates``, the same set ``ssl.create_default_context`` loads) exported to
  ``%LOCALAPPDATA%\\AvisoEntradas\\tls\\system-roots.pem`` (rewritten when the set changes).

libpq's own rule is kept: ``sslrootcert=system`` needs ``sslmode=verify-full`` (PostgreSQL docs, libpq "Parameter
Key Words", ``sslrootcert``): any public CA can sign a certificate for some name, so only the name check makes
the system store meaningful. Failures raise :class:`SystemRootsError` with a sentence for people.

Which thread: any (file reads; on Windows one small file write). No state.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from agent.deploy.atomic import write_text_atomic

SYSTEM = "system"
"""The ``sslrootcert`` keyword (libpq 16+)."""

SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1"
"""Extended key usage "TLS Web Server Authentication" (RFC 5280, 4.2.1.12)."""

KNOWN_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Arch, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL, CentOS
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # RHEL 7+
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # Alpine, macOS, BSD
)

WINDOWS_STORES = ("ROOT", "CA")

PEM_MARKER = b"-----BEGIN CERTIFICATE-----"
"""What a CA bundle must contain (RFC 7468, section 5)."""

CertRecord = tuple[bytes, str, "set[str] | bool"]
"""One entry of ``ssl.enum_certificates``: (DER bytes, encoding, trust: True or a set of usage OIDs)."""


class SystemRootsError(ValueError):
    """``sslrootcert=system`` cannot be used here. ``reason`` is ``weak_sslmode``, ``bad_env`` (``SSL_CERT_FILE``
    names no file with PEM certificates; ``detail`` is that path), ``no_bundle`` (no CA bundle found) or
    ``no_roots`` (Windows store gave none / the export could not be written; ``detail`` says which)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"sslrootcert=system: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.detail = detail


def resolve_rootcert(
    sslmode: str,
    sslrootcert: str,
    *,
    env: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
    enum_certificates: Callable[[str], Iterable[CertRecord]] | None = None,
) -> str:
    """``sslrootcert`` as libpq should get it: ``system`` becomes a CA bundle file path, anything else is returned
    unchanged. ``sslmode``: the effective mode (``system`` requires ``verify-full``). ``data_dir`` (Windows export
    folder, default platformdirs' user data dir) and ``enum_certificates`` (default ``ssl.enum_certificates``)
    are for tests. Raises :class:`SystemRootsError`."""
    if sslrootcert.strip().lower() != SYSTEM:
        return sslrootcert
    if sslmode != "verify-full":
        raise SystemRootsError("weak_sslmode", sslmode or "prefer")
    env = os.environ if env is None else env
    if sys.platform == "win32" or enum_certificates is not None:
        folder = data_dir if data_dir is not None else _data_dir()
        return str(export_windows_roots(folder / "tls" / "system-roots.pem", enum_certificates))
    return str(system_bundle(env))


def system_bundle(env: Mapping[str, str] | None = None, candidates: Iterable[str] | None = None) -> Path:
    """The OS's CA bundle file on POSIX (see the module docstring for the order). Raises :class:`SystemRootsError`."""
    env = os.environ if env is None else env
    explicit = env.get("SSL_CERT_FILE", "").strip()
    if explicit:
        path = Path(explicit)
        if _holds_pem_certificates(path):
            return path
        raise SystemRootsError("bad_env", explicit)
    if candidates is None:
        paths = ssl.get_default_verify_paths()
        candidates = [p for p in (paths.openssl_cafile, *KNOWN_BUNDLES) if p]
    for candidate in candidates:
        path = Path(candidate)
        if _holds_pem_certificates(path):
            return path.resolve()
    raise SystemRootsError("no_bundle")


def _holds_pem_certificates(path: Path) -> bool:
    """``path`` is a readable file with at least one PEM certificate (a directory, an empty or a garbage file would
    only surface later as libpq's "could not read root certificate file")."""
    try:
        return path.is_file() and PEM_MARKER in path.read_bytes()
    except OSError:
        return False


def export_windows_roots(dest: Path, enum_certificates: Callable[[str], Iterable[CertRecord]] | None = None) -> Path:
    """Write the server-authentication CA certificates of :data:`WINDOWS_STORES` as PEM to ``dest`` (only when the
    content changed; atomic replace from a temporary file of its own, so concurrent writers — the tray's threads,
    a ``doctor`` started meanwhile — never tear or steal each other's file) and return ``dest``.
    ``enum_certificates`` defaults to ``ssl.enum_certificates`` (Windows only). Raises :class:`SystemRootsError`."""
    enum = enum_certificates if enum_certificates is not None else getattr(ssl, "enum_certificates", None)
    if enum is None:
        raise SystemRootsError("no_roots", "ssl.enum_certificates is Windows-only")
    pems: list[str] = []
    seen: set[bytes] = set()
    for store in WINDOWS_STORES:
        try:
            records = list(enum(store))
        except OSError as exc:
            raise SystemRootsError("no_roots", f"{store}: {exc}") from None
        for der, encoding, trust in records:
            if encoding != "x509_asn" or der in seen:
                continue
            if trust is not True and SERVER_AUTH_OID not in trust:
                continue
            seen.add(der)
            pems.append(ssl.DER_cert_to_PEM_cert(der))
    if not pems:
        raise SystemRootsError("no_roots", "the Windows certificate stores list no server-authentication CA")
    text = "".join(pems)
    if _has_text(dest, text):
        return dest
    try:
        write_text_atomic(dest, text, encoding="ascii")  # a temporary file per writer
    except OSError as exc:
        if _has_text(dest, text):  # another process/thread wrote the same set first (Windows: replace refused)
            return dest
        raise SystemRootsError("no_roots", f"{dest}: {exc.strerror or exc}") from None
    return dest


def _has_text(path: Path, text: str) -> bool:
    try:
        return path.is_file() and path.read_text(encoding="ascii") == text
    except (OSError, UnicodeDecodeError):
        return False


def _data_dir() -> Path:
    import platformdirs

    from agent import APP_ID

    return Path(platformdirs.user_data_dir(APP_ID, appauthor=False, roaming=False))
