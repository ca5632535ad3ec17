"""Evaluation: generate with every checkpoint on every task, score, store one row per example."""
