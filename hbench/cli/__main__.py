"""``python -m hbench.cli``: kept for scripts written before ``python -m hbench``."""

import sys

from hbench.cli import main

sys.exit(main())
