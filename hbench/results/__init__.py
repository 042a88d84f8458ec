"""Result files: the versioned schema of one run's result, the environment it records, writing
and reading files, and many results as one table."""

from hbench.results.environment import collect_environment
from hbench.results.files import (
    models_folder,
    new_result_path,
    read_result,
    result_filename,
    write_result,
)
from hbench.results.rows import RESULT_COLUMNS, TABLE_COLUMNS
from hbench.results.schema import (
    SCHEMA_VERSION,
    Environment,
    LevelMetrics,
    ResolvedSpec,
    RunResult,
    SavedModel,
    Timing,
)
from hbench.results.table import load_results

__all__ = [
    "RESULT_COLUMNS",
    "SCHEMA_VERSION",
    "TABLE_COLUMNS",
    "Environment",
    "LevelMetrics",
    "ResolvedSpec",
    "RunResult",
    "SavedModel",
    "Timing",
    "collect_environment",
    "load_results",
    "models_folder",
    "new_result_path",
    "read_result",
    "result_filename",
    "write_result",
]
