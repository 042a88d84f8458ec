"""Where `hbench.scoring` lived before it moved below `hbench.results`, which checks result files
against its scores (`hbench.run` builds on both).

Kept so that code written against earlier hbench versions (``from hbench.run.scoring import
...``) keeps working unchanged: this name is the same module object. New code imports
`hbench.scoring`.
"""

import sys

import hbench.scoring

sys.modules[__name__] = hbench.scoring
