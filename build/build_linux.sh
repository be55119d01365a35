#!/usr/bin/env bash
# The Linux one-file binary from the same agent.spec: dist/linux/aviso-entradas (prints its build time).
# PYSTRAY_BACKEND=dummy: pystray's PyInstaller hook imports pystray, and `import pystray` with no DISPLAY raises
# Xlib.error.DisplayNameError unless PYSTRAY_BACKEND is set; the bundle still carries the xorg/gtk/appindicator
# backends found.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
PYSTRAY_BACKEND=dummy .venv/bin/pyinstaller --noconfirm --log-level WARN \
  --distpath dist/linux --workpath build/work/pyi-linux agent.spec
printf '== linux build: dist/linux/aviso-entradas (%s) in %s s\n' "$(du -h dist/linux/aviso-entradas | cut -f1)" \
  "$(( $(date +%s) - t0 ))" >&2
