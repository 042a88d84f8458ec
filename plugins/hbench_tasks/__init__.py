"""hbench's built-in tasks: ``root`` (the root symbol), ``mlm`` (masked leaves, single or in
spans), ``ancestor`` (every leaf's ancestor at one depth) and ``next-token`` (every symbol given
its prefix).

Registered through the ``hbench`` entry point ``tasks``. This module imports nothing, so that
listing plugins stays cheap; each task lives in its own module (`root`, `mlm`, `ancestor`,
`next_token`).
"""
