"""``build/dev.sh``'s set-up steps on a stock Debian, with the system tools it calls replaced by recording shims.

The shims stand in for what cannot be changed here without harming the machine (uninstalling python3-venv,
installing packages): ``python3`` fails ``-m venv`` the first time the way Debian does without python3-venv,
leaving a ``.venv`` without pip; ``dpkg-query`` reports every package missing; ``apt-get`` and ``id`` record and
answer. The script itself is the real one, run by bash from a copy of the repository's files it reads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHIMS = {
    "python3": """#!/bin/bash
echo "python3 $*" >> "$SHIM_LOG"
if [ "$1 $2" = "-m venv" ]; then
  if [ ! -e "$SHIM_STATE/venv-failed-once" ]; then
    touch "$SHIM_STATE/venv-failed-once"
    mkdir -p "$3/bin"; ln -s /bin/true "$3/bin/python"   # what Debian leaves: a python, no pip
    echo "The virtual environment was not created successfully because ensurepip is not available." >&2
    exit 1
  fi
  mkdir -p "$3/bin"
  printf '#!/bin/bash\\necho "venv-python $*" >> "$SHIM_LOG"\\n' > "$3/bin/python"; chmod +x "$3/bin/python"
fi
""",
    "dpkg-query": "#!/bin/bash\nexit 1\n",
    "apt-get": '#!/bin/bash\necho "apt-get $*" >> "$SHIM_LOG"\n',
    "id": "#!/bin/bash\necho 0\n",
}


def run_dev_sh(
    tmp: Path, *, venv_exists: bool, display: str | None, args: tuple[str, ...] = ("demo", "--duration", "1")
) -> list[str]:
    """Run ``build/dev.sh ARGS`` in a copy of the repository's files under ``tmp`` (kept between calls with the
    same ``tmp``); returns the lines this run added to the shims' log."""
    repo = tmp / "repo"
    if not repo.exists():
        (repo / "build").mkdir(parents=True)
        shutil.copy(ROOT / "build" / "dev.sh", repo / "build" / "dev.sh")
        shutil.copy(ROOT / "requirements.txt", repo / "requirements.txt")
        shutil.copy(ROOT / "build" / "requirements-dev.txt", repo / "build" / "requirements-dev.txt")
    shims = tmp / "shims"
    shims.mkdir(exist_ok=True)
    for name, text in SHIMS.items():
        (shims / name).write_text(text)
        (shims / name).chmod(0o755)
    state = tmp / "state"
    state.mkdir(exist_ok=True)
    log = tmp / "log"
    log.touch()
    before = len(log.read_text().splitlines())
    if venv_exists and not (repo / ".venv" / "bin" / "python").exists():
        (repo / ".venv" / "bin").mkdir(parents=True)
        (repo / ".venv" / "bin" / "python").write_text('#!/bin/bash\necho "venv-python $*" >> "$SHIM_LOG"\n')
        (repo / ".venv" / "bin" / "python").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env |= {"PATH": f"{shims}:{env.get('PATH', '/usr/bin:/bin')}", "SHIM_LOG": str(log), "SHIM_STATE": str(state)}
    if display is not None:
        env["DISPLAY"] = display
    # dev.sh's own stamp: a run through the shims must not make a later real run skip `apt-get update`
    apt_stamp = Path("/tmp/.aviso-apt-updated")  # noqa: S108
    had_stamp = apt_stamp.exists()
    try:
        proc = subprocess.run(
            ["bash", str(repo / "build" / "dev.sh"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    finally:
        if not had_stamp:
            apt_stamp.unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stderr
    return log.read_text().splitlines()[before:]


def test_venv_creation_installs_python3_venv_and_retries(tmp_path: Path) -> None:
    calls = run_dev_sh(tmp_path, venv_exists=False, display=None)
    venv_at = [i for i, c in enumerate(calls) if c.startswith("python3 -m venv")]
    assert len(venv_at) == 2, calls  # failed, then retried
    install_at = [i for i, c in enumerate(calls) if c.startswith("apt-get") and " install " in c]
    assert len(install_at) == 1 and calls[install_at[0]].endswith(" python3-venv"), calls
    assert venv_at[0] < install_at[0] < venv_at[1], calls
    # the retried venv is the one used: pip install, then the demo
    assert any(c.startswith("venv-python -m pip install") for c in calls), calls
    assert calls[-1] == "venv-python -m agent demo --duration 1"


def test_demo_installs_desktop_packages_only_with_a_display(tmp_path: Path) -> None:
    headless = run_dev_sh(tmp_path / "a", venv_exists=True, display=None)
    assert [c for c in headless if c.startswith("apt-get")] == [], headless
    assert headless[-1] == "venv-python -m agent demo --duration 1"
    desktop = run_dev_sh(tmp_path / "b", venv_exists=True, display=":0")
    installs = [c for c in desktop if c.startswith("apt-get") and " install " in c]
    assert len(installs) == 1 and "dunst" in installs[0].split(), desktop
    assert desktop[-1] == "venv-python -m agent demo --duration 1"


def pip_installs(calls: list[str]) -> list[str]:
    return [c.removeprefix("venv-python -m pip install ") for c in calls if c.startswith("venv-python -m pip install")]


def test_demo_installs_only_the_runtime_requirements_and_the_stamps_follow_each_file(tmp_path: Path) -> None:
    """``build/dev.sh demo`` used to install the developer tools (build/requirements-dev.txt) too."""
    dev_req = "-r build/requirements-dev.txt"
    first = pip_installs(run_dev_sh(tmp_path, venv_exists=True, display=None))
    assert len(first) == 1 and "-r requirements.txt" in first[0] and dev_req not in first[0], first
    assert pip_installs(run_dev_sh(tmp_path, venv_exists=True, display=None)) == []  # stamp current: no pip
    # the developer level (what `test` runs first) installs both files, then neither level reinstalls
    dev = pip_installs(run_dev_sh(tmp_path, venv_exists=True, display=None, args=("venv",)))
    assert len(dev) == 1 and "-r requirements.txt" in dev[0] and dev_req in dev[0], dev
    assert pip_installs(run_dev_sh(tmp_path, venv_exists=True, display=None, args=("venv",))) == []
    assert pip_installs(run_dev_sh(tmp_path, venv_exists=True, display=None)) == []
    # a change of build/requirements-dev.txt reinstalls for the developer level only
    with (tmp_path / "repo" / "build" / "requirements-dev.txt").open("a") as f:
        f.write("# changed\n")
    assert pip_installs(run_dev_sh(tmp_path, venv_exists=True, display=None)) == []
    assert len(pip_installs(run_dev_sh(tmp_path, venv_exists=True, display=None, args=("venv",)))) == 1
    # a change of requirements.txt reinstalls for both
    with (tmp_path / "repo" / "requirements.txt").open("a") as f:
        f.write("# changed\n")
    assert len(pip_installs(run_dev_sh(tmp_path, venv_exists=True, display=None))) == 1
    assert len(pip_installs(run_dev_sh(tmp_path, venv_exists=True, display=None, args=("venv",)))) == 1


def test_test_command_sets_up_the_developer_level() -> None:
    """``test`` runs ruff/mypy/pytest from .venv: it must ask for the developer level, ``demo`` for the runtime one."""
    script = (ROOT / "build" / "dev.sh").read_text()
    test_branch = script.split("\n  test)", 1)[1].split(";;", 1)[0]
    demo_branch = script.split("\n  demo)", 1)[1].split(";;", 1)[0]
    assert "ensure_venv dev" in test_branch and "ensure_venv runtime" in demo_branch
