"""Torch threads per training process: a Ray worker uses the CPUs Ray reserved for it."""

from __future__ import annotations

import os

from codesweep.train.loop import _default_threads


def test_threads_outside_ray_split_the_cores_over_workers() -> None:
    assert _default_threads(1) == (os.cpu_count() or 1)
    assert _default_threads(2) == max(1, (os.cpu_count() or 1) // 2)


def test_a_trial_with_one_cpu_trains_on_one_thread(ray_session) -> None:
    # A Tune trial training in its own process is an actor holding one CPU; two of them run
    # side by side on a 2-core machine, so each must keep to one thread, whatever the
    # world size (1) would give when the cores are divided by workers alone.
    @ray_session.remote(num_cpus=1)
    class Trial:
        def threads(self) -> int:
            return _default_threads(1)

    assert ray_session.get(Trial.remote().threads.remote()) == 1


def test_a_worker_with_two_cpus_trains_on_two_threads(ray_session) -> None:
    threads = ray_session.remote(num_cpus=2)(_default_threads)
    assert ray_session.get(threads.remote(4)) == 2
