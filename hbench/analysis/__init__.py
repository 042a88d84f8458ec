"""Analyses of finished runs: how a model reaches (or misses) exact inference.

Each analysis is a library function ``report(source, options) -> Report`` (`report`), with a
pydantic options class, registered through ``hbench_register_analyses`` like any plugin's
(the built-in ones by the tree plugin); ``hbench analyze NAME`` and ``hbench reproduce`` call
the same functions. Modules import their heavy dependencies (torch, matplotlib) inside those
functions, so listing analyses stays fast.
"""
