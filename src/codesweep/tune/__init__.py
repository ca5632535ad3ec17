"""Sweeps: Ray Tune + Optuna (TPE) + ASHA, each trial a Ray Train run."""
