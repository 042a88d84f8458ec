"""hbench's built-in tasks: root classification (``root``) and masked leaf prediction (``mlm``).

Registered through the ``hbench`` entry point ``tasks``. This module imports nothing, so that
listing plugins stays cheap; the tasks live in `hbench_tasks.tasks`.
"""
