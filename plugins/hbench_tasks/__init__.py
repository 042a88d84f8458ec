"""hbench's built-in tasks: ``root`` (the root symbol) and ``mlm`` (masked leaves, single or in
spans).

Registered through the ``hbench`` entry point ``tasks``. This module imports nothing, so that
listing plugins stays cheap; each task lives in its own module (`root`, `mlm`), all gathered in
`hbench_tasks.tasks`.
"""
