"""Result files and the tables read from them.

:mod:`.files` is the file layout and the only writer (the worker hands it typed records, the
runner records failures through it); :mod:`.tables` reads every file under a folder into pandas.
The names most callers need are re-exported here: ``results.load(...)``, ``results.read_status(...)``.
"""

from harness.results.files import (
    BuildFacts,
    ProofRecord,
    ResultHeader,
    ResultWriter,
    RunRecord,
    mark_failed,
    read_header,
    read_status,
    remove_stale,
    result_path,
    stale_temp_files,
    temp_path,
)
from harness.results.tables import (
    RECALL_CONVENTIONS,
    RECALL_DESCRIPTIONS,
    RUN_COLUMNS,
    TASK_COLUMNS,
    load,
    mode_threads,
    read_runs,
    recall_column,
    recall_note,
    run_table,
    series_of,
    summarize,
    threaded_mode,
    trusted,
)

__all__ = ["RECALL_CONVENTIONS", "RECALL_DESCRIPTIONS", "RUN_COLUMNS", "TASK_COLUMNS", "BuildFacts", "ProofRecord",
           "ResultHeader", "ResultWriter", "RunRecord", "load", "mark_failed", "mode_threads", "read_header",
           "read_runs", "read_status", "recall_column", "recall_note", "remove_stale", "result_path", "run_table",
           "series_of", "stale_temp_files", "summarize", "temp_path", "threaded_mode", "trusted"]
