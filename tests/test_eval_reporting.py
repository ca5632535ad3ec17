"""Reports held for their checkpoint's score reach Tune in step order, each with its own score."""

from __future__ import annotations

from codesweep.tune.eval_reporting import HeldReports


def test_reports_wait_for_their_own_score_and_keep_step_order() -> None:
    held = HeldReports()
    done: set[str] = set()
    scores = {"s1": {"eval.comp.edit_sim": 10.0}, "s2": {"eval.comp.edit_sim": 20.0}}
    held.add({"step": 1}, "s1")
    held.add({"step": 2}, "s2")
    held.add({"step": 3}, None)  # no checkpoint: nothing to score

    def release() -> list[dict]:
        return held.release(lambda ref: ref in done, scores.__getitem__)

    assert release() == []  # step 1's score still computing: nothing may overtake it
    done.add("s2")
    assert release() == []
    done.add("s1")
    assert release() == [{"step": 1, "eval.comp.edit_sim": 10.0},
                         {"step": 2, "eval.comp.edit_sim": 20.0}, {"step": 3}]
    assert len(held) == 0
