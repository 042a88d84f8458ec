"""``python -m hbench``: the same command line as the ``hbench`` script."""

import sys

from hbench.cli import main

sys.exit(main())
