#!/usr/bin/env bash
# One entry point for people and CI, from a fresh clone:
#   build/dev.sh demo [args]   the main job: the tray agent on an embedded PostgreSQL with a simulated turnstile
#   build/dev.sh test          every check: lint, types (Linux and win32), tests on PostgreSQL 15 and pgserver's 16
#   build/dev.sh venv          only .venv with requirements.txt + build/requirements-dev.txt (the developer tools)
# It installs what it needs: Debian packages when run as root (PostgreSQL server, Xvfb/dunst/trayer for the
# desktop tests), and a virtualenv in .venv: requirements.txt for `demo`, + build/requirements-dev.txt for `test`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '== %s\n' "$*" >&2; }

apt_install() {
  # apt_install PKG... : install the Debian packages that are missing (root only; otherwise just warn).
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "missing Debian packages (install them as root): ${missing[*]}"; return 0
  fi
  log "apt-get install ${missing[*]}"
  if [ ! -f /tmp/.aviso-apt-updated ]; then apt-get update -qq >/dev/null && touch /tmp/.aviso-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  # ensure_venv runtime|dev : one .venv; "runtime" installs requirements.txt (what the demo runs), "dev" also
  # build/requirements-dev.txt (linters, type checker, pytest). One stamp per level, each the hash of the files
  # it installed, so a change of either file reinstalls for `test`, and of requirements.txt for `demo` too.
  local level=$1 stamp want files
  if [ "$level" = dev ]; then
    stamp="$VENV/.requirements-dev.sha"; files=(requirements.txt build/requirements-dev.txt)
  else
    stamp="$VENV/.requirements.sha"; files=(requirements.txt)
  fi
  want=$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)
  if [ ! -x "$PY" ]; then
    log "creating .venv"
    # Debian/Ubuntu ship venv's pip bootstrap separately (python3-venv); a failed attempt leaves a .venv
    # without pip, so it is removed before the retry.
    if ! python3 -m venv "$VENV"; then
      rm -rf "$VENV"
      [ "$(id -u)" -eq 0 ] || { log "python3 -m venv failed: install python3-venv (as root) and retry"; exit 1; }
      apt_install python3-venv
      python3 -m venv "$VENV"
    fi
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    local args=()
    for f in "${files[@]}"; do args+=(-r "$f"); done
    log "pip install ${args[*]}"
    "$PY" -m pip install -q --disable-pip-version-check "${args[@]}"
    echo "$want" > "$stamp"
    # the dev level installed requirements.txt too: the runtime level is then current as well
    if [ "$level" = dev ]; then sha256sum < requirements.txt | cut -d' ' -f1 > "$VENV/.requirements.sha"; fi
  fi
}

# --- deploy area -------------------------------------------------------------------------------------------------
deploy_checks() {
  # Packages for the deploy tests (a real Secret Service, desktop-file-validate) and the Windows build under Wine;
  # then builds dist/windows/AvisoEntradas.exe (build/wine.sh) so that pytest runs tests/test_wine.py on it.
  # AVISO_REQUIRE_*: those tests fail, instead of skipping, when a tool or the exe is missing.
  apt_install gnome-keyring dbus desktop-file-utils wine wine64 unzip bc xvfb xauth
  if [ "$(id -u)" -ne 0 ] && ! command -v wine >/dev/null; then
    log "no wine and not root: skipping the Windows build (tests/test_wine.py will skip)"; return 0
  fi
  log "Windows build under Wine (build/wine.sh all)"
  bash build/wine.sh all
  export AVISO_REQUIRE_WINE=1 AVISO_REQUIRE_DEPLOY_TOOLS=1
}
# --- end deploy area ---------------------------------------------------------------------------------------------

cmd=${1:-test}
shift || true
case "$cmd" in
  demo)
    # With a display, a notification daemon (activated over D-Bus only when the desktop has none) so popups show;
    # without one the demo runs headless on the console and needs no Debian package.
    if [ -n "${DISPLAY:-}" ]; then apt_install dbus-x11 dunst; fi
    ensure_venv runtime
    exec "$PY" -m agent demo "$@"
    ;;
  test)
    apt_install postgresql
    # tray area: the desktop end-to-end test (tests/test_e2e_desktop.py) needs a real X server, D-Bus session,
    # notification daemon (dunst) and tray host (trayer); see build/desktop-session.sh.
    apt_install xvfb xauth dbus-x11 dbus dunst x11-utils xdotool libnotify-bin imagemagick trayer fonts-dejavu-core
    # doctor area: a real PgBouncer (transaction-pooling test), openssl (the TLS test's CA), and Spanish server
    # messages (lc_messages tests: locales es_ES.UTF-8 and es_ES ISO-8859-1, generated with localedef when missing).
    apt_install pgbouncer locales openssl
    # web area: a real headless browser for the local page's tests (tests/test_web_chromium.py drives Debian's
    # chromium over the DevTools pipe); once it is installed, those tests fail instead of skipping without it.
    apt_install chromium
    if command -v chromium >/dev/null; then export AVISO_REQUIRE_CHROMIUM=1; fi
    if [ "$(id -u)" -eq 0 ] && command -v localedef >/dev/null && ! locale -a 2>/dev/null | grep -qx 'es_ES.utf8'; then
      localedef -i es_ES -f UTF-8 es_ES.UTF-8 && localedef -i es_ES -f ISO-8859-1 es_ES || log "localedef es_ES failed"
    fi
    ensure_venv dev
    deploy_checks  # deploy area: Wine + the Windows exe, Secret Service (see the function)
    log "ruff"; "$VENV/bin/ruff" check agent tests bench
    log "mypy (linux)"; "$VENV/bin/mypy" --platform linux
    log "mypy (win32)"; "$VENV/bin/mypy" --platform win32
    log "pytest on the machine's PostgreSQL"
    AVISO_PG_BACKEND=system "$PY" -m pytest -q "$@"
    log "pytest on pgserver's PostgreSQL (database kit and engine)"
    AVISO_PG_BACKEND=pgserver "$PY" -m pytest -q tests/test_sql_kit.py "$@"
    # kit area: the rest of the kit's tests on pgserver's PostgreSQL 16 too (setup-db command, throwaway server).
    log "pytest on pgserver's PostgreSQL (setup-db command, throwaway server)"
    AVISO_PG_BACKEND=pgserver "$PY" -m pytest -q tests/test_setup_db_cli.py tests/test_throwaway.py "$@"
    ;;
  venv)
    # only the virtualenv with the developer tools (what `test` installs before it runs anything)
    ensure_venv dev
    ;;
  *)
    echo "usage: build/dev.sh demo|test|venv [args]" >&2; exit 2 ;;
esac
