"""The one line a wait for unschedulable evaluation actors ends with."""

from __future__ import annotations

from codesweep.waits import not_scheduled


def test_unschedulable_actors_name_what_they_need_and_what_is_free() -> None:
    line = not_scheduled("evaluate", 2, 2, {"CPU": 1.0, "GPU": 0.0}, 300.0, {"CPU": 0.0})
    assert line.startswith("evaluate: 2 of 2 actors not started after 300 s; each needs 1 CPU,")
    assert "the cluster has 0 CPU, 0 GPU free" in line
    assert "placement groups of finished trials" in line
    assert "\n" not in line


def test_actor_that_cannot_be_scheduled_times_out_with_one_line(ray_session) -> None:
    import pytest
    import ray

    from codesweep.errors import CodesweepError
    from codesweep.waits import wait_for_actors

    @ray.remote(num_cpus=10_000)
    class Greedy:
        pass

    with pytest.raises(CodesweepError, match=r"evaluate: 1 of 1 actors not started after 2 s; "
                                             r"each needs 10000 CPU"):
        wait_for_actors([Greedy.remote()], "evaluate", {"CPU": 10_000}, timeout_s=2)
