"""The trusted checker: the benchmark's test runs here, the sample's function in the sandbox.

A sample used to be scored by running prompt + completion + test in one sandboxed
interpreter, which let the sample decide its own verdict (rebind a builtin the test uses,
return an object whose `__eq__` always answers True, forge the harness's report). Now:

- the sandbox runs only prompt + completion, then answers calls (`harness._serve_calls`);
- this process, which never executes model code, runs the benchmark's own text: the prompt
  with its canonical solution (so helpers such as HumanEval/32's `poly` exist), then the
  test, then `check(candidate)`, where `candidate` is a `Candidate` proxy;
- each call sends its arguments as plain data and gets back plain data decoded with exact
  types (`harness.decode`: int, float, bool, str, bytes, None, tuple, list, dict, set,
  frozenset, nested) or an exception by type name and message, raised here as that builtin
  exception (or `SampleError`). No object of the sample's can reach the test's assertions.

The verdict is this process's alone. A test that must run inside the sample's interpreter
(it captures stdout, inspects globals or mutates shared state: see `needs_in_process`), or
a problem marked `"checker": "in_process"`, falls back to the old in-process protocol;
those results carry `checker="in_process"` instead of `"trusted"`.

A problem whose test cannot be compiled, or whose `check` fails for a reason that cannot
be the candidate's answer (before calling it, or with a NameError/ImportError), is a
broken benchmark: a one-line CodesweepError naming the task id, never a pass or a fail.
"""

from __future__ import annotations

import ast
import builtins
import functools
import socket
import threading
import time
from dataclasses import dataclass
from typing import NoReturn

from codesweep.errors import CodesweepError
from codesweep.execution import harness

TRUSTED = "trusted"
IN_PROCESS = "in_process"
# Names a test uses when it needs the sample's own interpreter (output, globals, state).
IN_PROCESS_NAMES = frozenset({"stdout", "stderr", "redirect_stdout", "redirect_stderr",
                              "StringIO", "capsys", "globals", "setattr", "__globals__"})
# Exceptions a plain-data answer cannot cause: the test itself is broken.
BENCHMARK_ERRORS = (NameError, ImportError, SyntaxError)
ANSWER_GRACE_S = 0.5  # past the timeout, the zygote's kill (and the EOF) normally comes first


class SampleError(Exception):
    """The candidate raised an exception that is not a builtin one, or sent what is not plain
    data; raised inside `check` like the candidate's own exception would be."""


class SampleEnded(BaseException):
    """The sample's process ended, hung up or ran out of time during a call.

    A BaseException, so that a test's `except Exception` cannot swallow it.
    """


class NotPlainArguments(BaseException):
    """The test called the candidate with something that cannot cross the sandbox (a
    BaseException, and remembered by the proxy: a test's `except` cannot hide it)."""


@dataclass(frozen=True)
class Verdict:
    """The checker's decision: passed, failed (with why), or ended (the process's fate
    decides between failed, timeout and error)."""

    status: str  # "passed" | "failed" | "ended"
    reason: str = ""


def needs_in_process(problem: dict) -> bool:
    """Whether this problem's test must run inside the sample's interpreter."""
    if problem.get("checker") in (TRUSTED, IN_PROCESS):
        return problem["checker"] == IN_PROCESS
    return _uses_in_process_names(_parse_test(problem)) or helper_code(problem) is None


@functools.lru_cache(maxsize=1024)
def _uses_in_process_names(test: ast.Module) -> bool:
    names = {getattr(node, "id", None) or getattr(node, "attr", None) for node in ast.walk(test)
             if isinstance(node, (ast.Name, ast.Attribute))}
    return bool(names & IN_PROCESS_NAMES)


def _parse_test(problem: dict) -> ast.Module:
    try:
        return _parse(problem["test"])
    except SyntaxError as exc:
        raise CodesweepError(f'{problem["task_id"]}: its test cannot be parsed '
                             f"(line {exc.lineno}: {exc.msg})") from None


# One parse at a time. CPython 3.11's AST builder keeps its recursion depth in state every
# thread shares; the collector can run a finalizer mid-build, the runner's other thread then
# parses too, and the first one fails with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905 and its reports). Seen in a full test run on 2 cores.
_PARSE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1024)
def _parse(source: str) -> ast.Module:
    with _PARSE_LOCK:
        return ast.parse(source)


def helper_code(problem: dict):
    """The benchmark's own helpers, compiled: the prompt with its canonical solution, or the
    prompt alone, or the prompt with an empty body; None when none of them compiles."""
    prompt = problem["prompt"]
    for source in (prompt + problem.get("canonical_solution", ""), prompt, prompt + "    pass\n"):
        if (code := _compile(source, "<prompt>")) is not None:
            return code
    return None


@functools.lru_cache(maxsize=1024)
def _compile(source: str, name: str):
    try:
        return compile(source, name, "exec")
    except SyntaxError:
        return None


def trusted_namespace(problem: dict, candidate: Candidate) -> dict:
    """A fresh namespace with the benchmark's helpers and test, the entry point replaced by
    the proxy (a test that names it directly calls the sample too)."""
    namespace: dict = {}
    exec(helper_code(problem), namespace)  # noqa: S102 (benchmark text, never the sample's)
    test = _compile(problem["test"], "<test>")
    if test is None:
        _parse_test(problem)  # raises with the line
    exec(test, namespace)  # noqa: S102
    if not callable(namespace.get("check")):
        raise CodesweepError(f'{problem["task_id"]}: its test defines no check(candidate)')
    namespace[problem["entry_point"]] = candidate
    return namespace


class Candidate:
    """Stands for the sample's function: each call crosses to the sandbox and back."""

    def __init__(self, channel: socket.socket, deadline: float) -> None:
        self.channel, self.deadline = channel, deadline
        self.calls = 0
        self.ended: str = ""  # why the sample's side is gone, once it is
        self.raised: BaseException | None = None  # the last exception that came from it
        self.unplain = ""  # why the test's arguments could not cross, once they could not

    def __call__(self, *args, **kwargs):
        self.calls += 1
        try:
            call = ["call", harness.encode(args), harness.encode(kwargs)]
        except (TypeError, ValueError, RecursionError) as exc:
            self.unplain = str(exc)
            raise NotPlainArguments(self.unplain) from None
        return self._answer(self._exchange(call))

    def wait_ready(self) -> None:
        """Wait for the sample's module to define the function; SampleError if it did not."""
        frame = self._receive()
        if frame[:1] == ["error"] and len(frame) == 2:
            raise self._from_sample(SampleError(f"the sample did not load: {frame[1]}"))
        if frame != ["ready"]:
            self._end("the sample sent something other than its readiness")

    def _exchange(self, call: list) -> list:
        if self.ended:
            raise SampleEnded(self.ended)
        try:
            harness.send_frame(self.channel, call)
        except OSError:
            self._end("the sample's process is gone")
        return self._receive()

    def _receive(self) -> list:
        self.channel.settimeout(max(0.0, self.deadline - time.monotonic()) + ANSWER_GRACE_S)
        try:
            frame = harness.receive_frame(self.channel)
        except TimeoutError:
            self._end("no answer within the timeout")
        except (OSError, ValueError, RecursionError) as exc:  # garbage on the socket
            self._end(f"the sample broke the protocol ({type(exc).__name__})")
        if type(frame) is not list or not frame:
            self._end("the sample's process ended" if frame is None else "a malformed answer")
        return frame

    def _answer(self, frame: list):
        kind = frame[0]
        if kind == "ok" and len(frame) == 2:
            try:
                return harness.decode(frame[1])
            except (ValueError, RecursionError):
                self._end("the sample's answer is not plain data")
        if kind == "raised" and len(frame) == 3 and all(type(x) is str for x in frame[1:]):
            raise self._from_sample(_exception(frame[1], frame[2]))
        if kind == "refused" and len(frame) == 2 and type(frame[1]) is str:
            raise self._from_sample(SampleError(f"the candidate returned {frame[1]}"))
        if kind == "ended" and len(frame) == 2 and type(frame[1]) is str:
            self._end(f"the candidate ended the run ({frame[1]})")
        self._end("a malformed answer")

    def _from_sample(self, exc: BaseException) -> BaseException:
        self.raised = exc
        return exc

    def _end(self, why: str) -> NoReturn:
        self.ended = self.ended or why
        raise SampleEnded(self.ended)


def _exception(name: str, message: str) -> Exception:
    """The candidate's exception, as the builtin type of that name or a SampleError."""
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except TypeError:  # a builtin that takes other arguments (UnicodeDecodeError...)
            pass
    return SampleError(f"{name}: {message}")


def run_check(problem: dict, channel: socket.socket, deadline: float) -> Verdict:
    """Run the problem's `check` against the sample behind `channel`, until `deadline`."""
    candidate = Candidate(channel, deadline)
    namespace = trusted_namespace(problem, candidate)
    try:
        candidate.wait_ready()
        namespace["check"](candidate)
    except SampleEnded as exc:
        return Verdict("ended", str(exc))
    except NotPlainArguments:
        raise
    except Exception as exc:  # the test's assertion, or the candidate's answer, failed
        _raise_if_benchmark_broke(problem, candidate, exc)
        return Verdict("failed", f"{type(exc).__name__}: {exc}"[:300])
    if candidate.unplain:  # the test swallowed it: this problem must run in process
        raise NotPlainArguments(candidate.unplain)
    if candidate.ended:  # the test swallowed the end of the sample: still not a pass
        return Verdict("ended", candidate.ended)
    return Verdict("passed")


def _raise_if_benchmark_broke(problem: dict, candidate: Candidate, exc: Exception) -> None:
    """A CodesweepError when `exc` cannot have come from the candidate's answers."""
    from_sample = candidate.raised is not None and _caused_by(exc, candidate.raised)
    if from_sample or (candidate.calls and not isinstance(exc, BENCHMARK_ERRORS)):
        return
    when = "before calling the candidate" if not candidate.calls else "in the test itself"
    raise CodesweepError(f"{problem['task_id']}: its check raised {type(exc).__name__} {when} "
                         f"({exc}); the benchmark is broken")


def _caused_by(exc: BaseException | None, cause: BaseException) -> bool:
    seen = 0
    while exc is not None and seen < 100:
        if exc is cause:
            return True
        exc, seen = exc.__context__, seen + 1
    return False
