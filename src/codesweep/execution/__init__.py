"""A sandbox for generated code: run human-eval style samples and report pass/fail per sample.

    from codesweep.execution import ExecutionReward, run_samples
    results = run_samples(problems, [{"task_id": "HumanEval/0", "completion": "..."}])
    rewards = ExecutionReward(problems=problems)(prompts, completions, task_id=task_ids)

The benchmark's test runs outside the sandbox (`codesweep.execution.checker`); only the
sample's function runs inside.

See `codesweep.execution.isolation` for what each isolation level enforces.
"""

from codesweep.execution.isolation import LEVELS, SandboxWarning, detect
from codesweep.execution.limits import Limits
from codesweep.execution.rewards import ExecutionReward
from codesweep.execution.runner import ExecResult, program_for, run_program, run_sample, run_samples

__all__ = [
    "LEVELS",
    "ExecResult",
    "ExecutionReward",
    "Limits",
    "SandboxWarning",
    "detect",
    "program_for",
    "run_program",
    "run_sample",
    "run_samples",
]
