"""The trusted checker's protocol: plain data with exact types, exceptions by name, broken
benchmarks as clear errors, and the in-process fallback marked as such."""

from __future__ import annotations

import math

import pytest

from codesweep.errors import CodesweepError
from codesweep.execution import harness, run_samples

PLAIN = [0, -(10**40), 1.5, float("inf"), True, False, None, "", "é\n", b"\x00\xff",
         (1, (2.0, [3])), [], [True, 1, 1.0], {"a": [1], (1, "b"): {2}}, {1, 2}, frozenset({3}),
         {}, ((),)]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_data_round_trips_with_exact_types(value) -> None:
    back = harness.decode(harness.encode(value))
    assert back == value and _types(back) == _types(value)


def _types(value):
    if isinstance(value, dict):
        return ("dict", sorted((repr(_types(k)), repr(_types(v))) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return (type(value).__name__, sorted(repr(_types(v)) for v in value))
    return type(value).__name__


def test_nan_crosses_as_nan() -> None:
    assert math.isnan(harness.decode(harness.encode(float("nan"))))


class Forged(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize("value", [Forged(1), object(), [Forged(1)], {"k": object()},
                                   type("L", (list,), {})(), lambda: 1], ids=repr)
def test_anything_but_exact_builtin_types_is_refused(value) -> None:
    with pytest.raises(TypeError, match="cannot cross the sandbox"):
        harness.encode(value)


@pytest.mark.parametrize("data", [{"a": 1}, ["nope", 1], [], ["set", ["list"]],
                                  ["dict", [1]], ["bytes", 5], [1, 2]], ids=repr)
def test_decode_refuses_what_encode_cannot_make(data) -> None:
    with pytest.raises(ValueError, match="not plain data"):
        harness.decode(data)


def _problem(test: str, prompt: str = "def f(x):\n", **extra) -> dict:
    return {"task_id": "Custom/1", "prompt": prompt, "entry_point": "f", "test": test, **extra}


def _run(problem: dict, completion: str):
    (result,) = run_samples({"Custom/1": problem}, [{"task_id": "Custom/1",
                                                      "completion": completion}], timeout=3.0)
    return result


EXPECTS_VALUE_ERROR = ("def check(candidate):\n    try:\n        candidate(1)\n"
                       "    except ValueError as exc:\n        assert str(exc) == 'bad'\n"
                       "    else:\n        raise AssertionError('no error')\n")


def test_a_builtin_exception_of_the_candidate_is_raised_as_that_type() -> None:
    result = _run(_problem(EXPECTS_VALUE_ERROR), "    raise ValueError('bad')\n")
    assert result.passed and result.checker == "trusted", result


def test_a_sample_exception_crosses_as_its_nearest_builtin_type() -> None:
    subclass = "    class Bad(ValueError):\n        pass\n    raise Bad('bad')\n"
    assert _run(_problem(EXPECTS_VALUE_ERROR), subclass).passed
    other = "    class Bad(Exception):\n        pass\n    raise Bad('bad')\n"
    result = _run(_problem(EXPECTS_VALUE_ERROR), other)
    assert not result.passed and result.reason == "Exception: bad", result


def test_a_test_swallowing_the_end_of_the_sample_still_fails() -> None:
    test = ("def check(candidate):\n    try:\n        candidate(1)\n    except BaseException:\n"
            "        pass\n")
    result = _run(_problem(test), "    import os\n    os._exit(0)\n")
    assert not result.passed and result.status == "failed", result


@pytest.mark.parametrize(("test", "message"), [
    ("def check(candidate:\n    pass\n", r"Custom/1: its test cannot be parsed \(line 1"),
    ("x = 1\n", r"Custom/1: its test defines no check\(candidate\)"),
    ("def check(candidate):\n    x = candidate(1)\n    assert undefined_helper(x)\n",
     r"Custom/1: its check raised NameError in the test itself"),
    ("def check(candidate):\n    [][0]\n    candidate(1)\n",
     r"Custom/1: its check raised IndexError before calling the candidate"),
])
def test_a_broken_benchmark_is_a_one_line_error_naming_the_task(test: str, message: str) -> None:
    with pytest.raises(CodesweepError, match=message) as caught:
        _run(_problem(test), "    return x\n")
    assert "\n" not in str(caught.value)


def test_a_wrong_answer_that_breaks_the_test_is_the_sample_failing() -> None:
    result = _run(_problem("def check(candidate):\n    assert candidate(1) + 1 == 2\n"),
                  "    return None\n")
    assert not result.passed and "TypeError" in result.reason, result


def test_tests_that_capture_output_run_in_process_and_say_so() -> None:
    test = ("import contextlib, io\ndef check(candidate):\n    out = io.StringIO()\n"
            "    with contextlib.redirect_stdout(out):\n        candidate(1)\n"
            "    assert out.getvalue() == '1\\n'\n")
    result = _run(_problem(test), "    print(x)\n")
    assert result.passed and result.checker == "in_process", result


def test_a_problem_can_ask_for_the_in_process_checker() -> None:
    problem = _problem("def check(candidate):\n    assert candidate(1) == 1\n",
                       checker="in_process")
    result = _run(problem, "    return x\n")
    assert result.passed and result.checker == "in_process", result


@pytest.mark.parametrize("test", [
    "def check(candidate):\n    assert candidate(len) == 3\n",
    "def check(candidate):\n    try:\n        candidate(len)\n    except BaseException:\n"
    "        pass\n",  # a test that hides the refusal still does not pass here
])
def test_arguments_that_cannot_cross_fall_back_to_in_process(test: str) -> None:
    result = _run(_problem(test), "    return x('abc')\n")
    assert result.passed and result.checker == "in_process", result
    result = _run(_problem("def check(candidate):\n    assert candidate(len) == 3\n"),
                  "    return 4\n")
    assert not result.passed and result.checker == "in_process", result


def test_helpers_come_from_the_benchmark_not_the_sample() -> None:
    # the sample redefines the prompt's helper; the test must still use the benchmark's
    prompt = "def helper(v):\n    return v * 2\n\n\ndef f(x):\n"
    test = "def check(candidate):\n    assert helper(candidate(1)) == 4\n"
    result = _run(_problem(test, prompt), "    return 2\n\ndef helper(v):\n    return 4\n")
    assert result.passed, result
    result = _run(_problem(test, prompt), "    return 1\n\ndef helper(v):\n    return 4\n")
    assert not result.passed, result


def test_tests_parse_safely_from_the_runners_threads() -> None:
    """The runner checks samples in threads. CPython 3.11's AST builder shares its recursion
    depth between threads, so a finalizer run by the collector mid-parse let another thread
    parse too and the first failed with a SystemError; the checker parses one at a time."""
    import sys
    import threading

    from codesweep.execution import checker

    class Finalized:
        def __del__(self) -> None:
            sum(range(50))

    test = "def check(candidate):\n" + "".join(
        f"    assert candidate({n}) == [{n}, ({n}, {{'k': {n}}})]\n" for n in range(40))
    errors: list[str] = []

    def parse_many(worker: int) -> None:
        for n in range(150):
            first, second = Finalized(), Finalized()  # a cycle only the collector frees
            first.other, second.other = second, first
            try:
                checker._parse(f"{test}# {worker} {n}\n")  # distinct: not from the cache
            except SystemError as exc:
                errors.append(str(exc))
                return

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        threads = [threading.Thread(target=parse_many, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
