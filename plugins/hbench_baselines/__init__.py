"""hbench's built-in reference models: the class prior (the floor), naive Bayes (learned from
the training data alone) and exact BP (the ceiling, privileged: it is handed the grammar).

Registered through the ``hbench`` entry point ``baselines``. This module imports nothing, so
that listing plugins stays cheap; the models live in `hbench_baselines.models`.
"""
