#!/usr/bin/env bash
# Run a command inside a throwaway desktop: Xvfb, a private D-Bus session, dunst (notification daemon, popups
# stay until closed) and trayer (system tray host). Used for the end-to-end desktop test and to watch the demo
# on a headless machine:
#   build/desktop-session.sh .venv/bin/python -m agent demo --duration 30
#   build/desktop-session.sh bash -c 'sleep 5; import -window root shot.png'
# Needs the Debian packages xvfb xauth dbus dbus-x11 dunst trayer (build/dev.sh installs them as root).
# Environment: AVISO_DESKTOP_SIZE (default 1280x800x24). The display number is a free one (Xvfb -displayfd).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${AVISO_IN_DBUS_SESSION:-}" ]; then
  export AVISO_IN_DBUS_SESSION=1
  exec dbus-run-session -- "$0" "$@"
fi
for tool in Xvfb dunst trayer dbus-send; do
  command -v "$tool" >/dev/null || { echo "desktop-session: $tool is missing (build/dev.sh installs it as root)" >&2; exit 2; }
done
WORK=$(mktemp -d /tmp/aviso-desktop.XXXXXX)
cleanup() {
  for pid in ${TRAYER_PID:-} ${DUNST_PID:-} ${XVFB_PID:-}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# Xvfb picks a free display and writes its number to the fd given with -displayfd.
exec 3>"$WORK/display"
Xvfb -displayfd 3 -screen 0 "${AVISO_DESKTOP_SIZE:-1280x800x24}" -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
XVFB_PID=$!
exec 3>&-
for _ in $(seq 100); do [ -s "$WORK/display" ] && break; sleep 0.05; done
export DISPLAY=":$(head -n1 "$WORK/display")"
dbus-update-activation-environment DISPLAY="$DISPLAY" 2>/dev/null || true
dunst -config "$ROOT/build/dunstrc" >"$WORK/dunst.log" 2>&1 &
DUNST_PID=$!
for _ in $(seq 100); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
    string:org.freedesktop.Notifications 2>/dev/null | grep -q "boolean true" && break
  sleep 0.05
done
trayer --edge bottom --align right --widthtype request --heighttype pixel --height 32 --transparent false \
  --tint 0x303030 --SetDockType true >"$WORK/trayer.log" 2>&1 &
TRAYER_PID=$!
sleep 0.3
"$@"
