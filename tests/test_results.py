"""Result files: the writer's records read back by the tables, failures that keep finished runs,
and scripts/compare_answers.py telling identical answers from different ones."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import h5py
import numpy as np

from harness import results
from harness.results import BuildFacts, ProofRecord, ResultHeader, ResultWriter, RunRecord

ROOT = Path(__file__).resolve().parent.parent
HEADER = ResultHeader("algo", "data", 2, {"M": 8}, "M=8")


def record(ef: int, neighbors: np.ndarray) -> RunRecord:
    return RunRecord(mode="batch", query_params={"ef": ef}, neighbors=neighbors, scores=neighbors * 0.5,
                     recalls=np.array([1.0, 0.5]), repeat_times_s=np.array([0.2, 0.1]), best_time_s=0.1, qps=20.0,
                     repeat_spread=2.0, proof=ProofRecord(1.0, 0.0, 0.0, 1, 1, [3], True), series="algo",
                     task_metrics={"nDCG@10": 0.25})


def write(root: Path, neighbors: np.ndarray) -> Path:
    writer = ResultWriter(results.result_path(root, "data", 2, "algo", "M=8"), HEADER, runs=2, environment={"core": 3})
    writer.record_build(BuildFacts(1.5, 100, 50, None))
    writer.add_run("000-batch", record(10, neighbors))
    return writer.finish()


def test_what_the_writer_writes_the_tables_read(tmp_path):
    path = write(tmp_path, np.array([[0, 1], [2, -1]]))
    assert path.name == "M=8.h5" and not list(path.parent.glob(".*"))  # renamed into place, no temp left
    row = results.load(tmp_path).iloc[0]
    assert (row["algorithm"], row["dataset"], row["k"], row["build"], row["status"]) == ("algo", "data", 2, "M=8", "ok")
    assert row["recall"] == 0.75 and row["qps"] == 20.0 and row["nDCG@10"] == 0.25 and row["index_size_bytes"] == -1
    assert json.loads(row["affinity"]) == [3] and bool(row["single_thread_ok"])
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["runs/000-batch/neighbors"][()], [[0, 1], [2, -1]])
        assert json.loads(f.attrs["build_params"]) == {"M": 8} and f.attrs["format_version"] == 1


def test_a_failure_keeps_the_runs_a_dead_worker_finished(tmp_path):
    final = results.result_path(tmp_path, "data", 2, "algo", "M=8")
    writer = ResultWriter(final, HEADER, runs=2)
    writer.record_build(BuildFacts(1.5, 100, 50, 10))
    writer.add_run("000-batch", record(10, np.array([[0, 1], [2, 3]])))
    writer._file.close()  # the worker dies here: its temporary file stays behind
    results.mark_failed(final, "worker crashed (killed by signal SIGKILL)", HEADER)
    assert results.read_status(final) == ("failed", "worker crashed (killed by signal SIGKILL)")
    frame = results.load(tmp_path)
    assert list(frame["status"]) == ["ok", "failed"] and frame["recall"].iloc[0] == 0.75
    assert not results.stale_temp_files(final)


def test_compare_answers_tells_identical_from_different(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("compare_answers", ROOT / "scripts" / "compare_answers.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    same = np.array([[0, 1], [2, 3]])
    for name, ids in (("a", same), ("b", same), ("c", np.array([[0, 1], [3, 2]]))):
        write(tmp_path / name, ids)
    assert script.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert script.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    assert "different neighbors" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert script.main([str(tmp_path / "a"), str(tmp_path / "empty")]) == 1
    assert "only in before" in capsys.readouterr().out
