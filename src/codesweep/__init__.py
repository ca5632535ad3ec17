"""codesweep: code-LLM datasets, LoRA sweeps on Ray, code metrics, MLflow leaderboards."""

__version__ = "0.1.0"
