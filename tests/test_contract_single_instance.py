"""One contract for the single-instance port (:class:`agent.adapters.single_instance_api.SingleInstance`), run
against the POSIX lock file and the memory twin (the Windows named mutex runs it on Windows)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.adapters import choose
from agent.adapters.single_instance_api import SingleInstance
from agent.adapters.single_instance_memory import MemoryInstance
from agent.adapters.single_instance_posix import LockFileInstance

ROOT = Path(__file__).resolve().parent.parent
Factory = Callable[[str], SingleInstance]


class SingleInstanceContract:
    """Subclasses provide the ``make`` fixture: name -> a new guard (as a second process would make it)."""

    def test_the_second_of_a_name_is_refused_until_release(self, make: Factory) -> None:
        first, second = make("agent"), make("agent")
        try:
            assert first.acquire() is True
            assert first.acquire() is True  # asking again keeps it
            assert second.acquire() is False
            first.release()
            first.release()  # idempotent
            assert second.acquire() is True
        finally:
            first.release()
            second.release()

    def test_names_are_independent(self, make: Factory) -> None:
        a, b = make("agent"), make("demo")
        try:
            assert a.acquire() and b.acquire()
        finally:
            a.release()
            b.release()


@pytest.mark.skipif(sys.platform == "win32", reason="flock (POSIX)")
class TestLockFile(SingleInstanceContract):
    @pytest.fixture
    def make(self, tmp_path: Path) -> Iterator[Factory]:
        env = {choose.ENV_SINGLE_INSTANCE: "posix", choose.ENV_RUNTIME_DIR: str(tmp_path)}
        yield lambda name: choose.single_instance(name, env)

    def test_a_killed_holder_frees_the_lock(self, make: Factory, tmp_path: Path) -> None:
        code = (
            "import sys, time; from pathlib import Path\n"
            "from agent.adapters.single_instance_posix import LockFileInstance\n"
            "assert LockFileInstance('agent', Path(sys.argv[1])).acquire()\n"
            "print('held', flush=True); time.sleep(60)\n"
        )
        holder = subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            mine = make("agent")
            assert isinstance(mine, LockFileInstance)
            assert mine.acquire() is False
            assert (tmp_path / "agent.lock").read_text().strip() == str(holder.pid)
            holder.kill()
            holder.wait(timeout=10)
            assert mine.acquire() is True
            mine.release()
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()


class TestMemoryTwin(SingleInstanceContract):
    @pytest.fixture
    def make(self) -> Factory:
        def make(name: str) -> SingleInstance:
            guard = choose.single_instance(f"contract-{name}", {choose.ENV_SINGLE_INSTANCE: "memory"})
            assert isinstance(guard, MemoryInstance)
            return guard

        return make


@pytest.mark.skipif(sys.platform != "win32", reason="named mutex (Windows)")
class TestNamedMutex(SingleInstanceContract):
    @pytest.fixture
    def make(self) -> Factory:
        return lambda name: choose.single_instance(f"contract-{name}", {})
