"""``python -m hbench.run.worker READ_FD WRITE_FD`` (a worker) or ``--template FD
[--sandboxed]`` (a template); the harness starts it through `template.LAUNCHER`."""

from __future__ import annotations

import sys

from hbench.run.worker.serve import worker_main
from hbench.run.worker.template import template_main
from hbench.run.worker.wire import _Pipes


def main(argv: list[str]) -> None:
    if argv[0] == "--template":
        template_main(int(argv[1]), sandboxed="--sandboxed" in argv[2:])
    else:
        worker_main(_Pipes(int(argv[0]), int(argv[1])))


if __name__ == "__main__":
    main(sys.argv[1:])
