"""One test per threat the sandbox must survive, at every isolation level this machine offers.

Every hostile program is bounded on its own (at most a few hundred processes, 2 GiB, a few
seconds), so a sandbox bug fails the test instead of hurting the machine.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest
from sandbox_support import SMALL, run_checked

from codesweep.execution import isolation, runner


def _namespaces_missing() -> str | None:
    return isolation._namespaces_unavailable() or runner.probe(isolation.NAMESPACES)


def _user_namespaces_missing() -> str | None:
    return isolation._user_namespaces_unavailable() or runner.probe(isolation.USERNS)


NAMESPACES_MISSING = _namespaces_missing()
needs_namespaces = pytest.mark.skipif(
    NAMESPACES_MISSING is not None, reason=f"no namespaces here: {NAMESPACES_MISSING}"
)
USERNS_MISSING = _user_namespaces_missing()
needs_userns = pytest.mark.skipif(
    USERNS_MISSING is not None, reason=f"no user namespaces here: {USERNS_MISSING}"
)
# rlimits always; the namespace levels where this machine allows them
LEVELS = [pytest.param(isolation.NAMESPACES, marks=needs_namespaces),
          pytest.param(isolation.USERNS, marks=needs_userns), isolation.RLIMITS]


@pytest.mark.parametrize("level", LEVELS)
def test_sample_cannot_kill_the_scorer(level: str, marker: str) -> None:
    program = f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)\n"
    result, _ = run_checked(program, level, marker)
    assert not result.passed  # and this test process is still alive to assert it


@pytest.mark.parametrize("level", LEVELS)
def test_sample_cannot_kill_its_parent(level: str, marker: str) -> None:
    # The parent is this process (rlimits) or the zygote (namespaces: PID 1 of the sample's
    # namespace, running as another uid): either way the harness must still be there to report.
    program = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
    result, _ = run_checked(program, level, marker)
    assert result.status in ("passed", "failed"), result


@pytest.mark.parametrize("level", LEVELS)
def test_fork_bomb_is_contained(level: str, marker: str) -> None:
    if level == isolation.USERNS and os.geteuid() == 0:
        # userns is the level for users without root; for uid 0 (mapped to itself) the kernel
        # does not apply RLIMIT_NPROC, so there is nothing this test could show here.
        pytest.skip("RLIMIT_NPROC does not bind on uid 0; userns is for non-root users")
    # Forks at most 200 sleeping children; passes only if the process limit stopped it first.
    program = (
        "import os, time\nmade = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n"
        "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(60)\n"
        "        os._exit(0)\n    made += 1\nassert made < SMALL_LIMIT, made\n"
    ).replace("SMALL_LIMIT", str(SMALL.processes))
    result, elapsed = run_checked(program, level, marker)
    assert result.passed, result
    assert elapsed < 10


@pytest.mark.parametrize("level", LEVELS)
def test_memory_bomb_fails_fast(level: str, marker: str) -> None:
    program = "chunks = [bytearray(64 * 1024 * 1024) for _ in range(32)]\n"  # 2 GiB at most
    result, elapsed = run_checked(program, level, marker)
    assert result.status == "failed" and "MemoryError" in result.reason, result
    assert elapsed < 10


@pytest.mark.parametrize("level", LEVELS)
def test_signal_ignoring_infinite_loop_times_out(level: str, marker: str) -> None:
    program = (
        "import signal\n"
        "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGXCPU):\n"
        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n"
    )
    result, elapsed = run_checked(program, level, marker, timeout=1.0)
    assert result.status == "timeout" and not result.passed
    assert elapsed < 1.0 + runner.STARTUP_GRACE_S + 3


@pytest.mark.parametrize("level", LEVELS)
def test_huge_output_is_capped(level: str, marker: str) -> None:
    program = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    result, elapsed = run_checked(program, level, marker, timeout=5.0)
    assert result.status == "failed" and "File too large" in result.reason, result
    assert len(result.output) <= runner.OUTPUT_TAIL_BYTES
    assert elapsed < 5.0


@pytest.mark.parametrize("level", LEVELS)
def test_orphaned_children_do_not_survive(level: str, marker: str) -> None:
    # A double-forked daemon in its own session: it leaves the sample's process group.
    program = (
        "import os, time\ntry:\n    if os.fork() == 0:\n        os.setsid()\n"
        "        if os.fork() == 0:\n            time.sleep(60)\n        os._exit(0)\n"
        "except OSError:\n    pass\n"
    )
    result, _ = run_checked(program, level, marker)
    assert result.status in ("passed", "failed")  # the reaper check in _run is the point


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("exit_call", ["import sys; sys.exit(0)", "import os; os._exit(0)",
                                       "raise SystemExit"])
def test_early_exit_is_a_failure(level: str, marker: str, exit_call: str) -> None:
    result, _ = run_checked(exit_call + "\nassert False, 'the tests'\n", level, marker)
    assert result.status == "failed" and not result.passed
    assert "before the tests finished" in result.reason


@pytest.mark.parametrize("level", LEVELS)
def test_network_is_blocked(level: str, marker: str) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        program = (
            "import socket\ntry:\n"
            f"    socket.create_connection(('127.0.0.1', {server.getsockname()[1]}), timeout=1)\n"
            "except OSError:\n    pass\nelse:\n    raise AssertionError('connected')\n"
        )
        result, _ = run_checked(program, level, marker)
        with pytest.raises(BlockingIOError):
            server.accept()
    assert result.passed, result


@pytest.mark.parametrize("level", LEVELS)
def test_writes_outside_scratch_are_blocked(level: str, marker: str, tmp_path) -> None:
    tmp_path.chmod(0o777)  # so that only the sandbox, not file permissions, can stop the write
    outside = [tmp_path / "outside.txt", f"/tmp/codesweep-test-{uuid.uuid4().hex}"]
    program = "import os\nopen('inside.txt', 'w').write('ok')\nprint(os.getcwd())\n" + "".join(
        f"try:\n    open({str(p)!r}, 'w').write('escaped')\nexcept OSError:\n    pass\n"
        for p in outside
    )
    result, _ = run_checked(program, level, marker)
    assert result.passed, result
    assert not any(os.path.exists(p) for p in outside)
    scratch = result.output.strip().splitlines()[-1]
    assert not os.path.exists(os.path.join(scratch, "inside.txt"))  # scratch removed or private


@pytest.mark.parametrize("level", LEVELS)
def test_environment_is_scrubbed_and_stdin_closed(
    level: str, marker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODESWEEP_TEST_SECRET", "hunter2")
    program = (
        "import os, sys\nassert 'CODESWEEP_TEST_SECRET' not in os.environ\n"
        "assert 'hunter2' not in repr(dict(os.environ))\nassert sys.stdin.read() == ''\n"
    )
    result, _ = run_checked(program, level, marker)
    assert result.passed, result


@needs_namespaces
def test_namespaces_hide_home_directories_and_drop_root(marker: str) -> None:
    program = "import os\nassert os.getuid() != 0\nprint(sorted(os.listdir('/root')))\n"
    result, _ = run_checked(program, isolation.NAMESPACES, marker)
    assert result.passed, result
    # only the way to the interpreter's own files is left under /root
    allowed = {p.split("/")[2] for p in isolation.interpreter_directories()
               if p.startswith("/root/")}
    assert set(eval(result.output.strip())) <= allowed


@needs_userns
def test_user_namespace_samples_have_no_capabilities(marker: str) -> None:
    program = (
        "import ctypes, os\nstatus = open('/proc/self/status').read()\n"
        "for field in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'):\n"
        "    assert f'{field}:\\t0000000000000000' in status, field\n"
        "assert 'NoNewPrivs:\\t1' in status\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.mount(b'none', b'/tmp/work', b'tmpfs', 0, None) != 0, 'mounted'\n"
        "assert libc.umount2(b'/root', 2) != 0, 'unmounted the cover of /root'\n"
        "print(sorted(os.listdir('/root')))\n"
    )
    result, _ = run_checked(program, isolation.USERNS, marker)
    assert result.passed, result
    allowed = {p.split("/")[2] for p in isolation.interpreter_directories()
               if p.startswith("/root/")}
    assert set(eval(result.output.strip())) <= allowed
