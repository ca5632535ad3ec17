"""Training: the per-worker LoRA loop, runnable under Ray Train or in a single process."""
