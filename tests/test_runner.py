"""The runner against fixture adapters that crash, hang, lie and spawn threads."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest

from harness import results
from harness.data.dataset import Dataset
from harness.run import runner

FIXTURE_ALGORITHMS = Path(__file__).parent / "fixtures" / "algorithms"

ROOT = Path(__file__).resolve().parent.parent


def options(tmp_path: Path, **overrides) -> runner.RunOptions:
    base = dict(runs=2, timeout_s=60, results_root=tmp_path / "results", algorithms_root=FIXTURE_ALGORITHMS)
    return runner.RunOptions(**{**base, **overrides})


def test_brute_force_through_the_runner_is_exact(tmp_path, small_dense):
    outcomes = runner.run_sweep(["brute"], str(small_dense), options(tmp_path))
    assert [o.status for o in outcomes] == ["ok"]
    frame = results.load(tmp_path / "results")
    assert sorted(frame["mode"]) == ["batch", "single"]
    assert (frame["recall"] == 1.0).all()
    assert (frame["status"] == "ok").all()
    # The stored neighbours are the ground truth's, and the stored scores are their distances.
    ds = Dataset(small_dense)
    with h5py.File(outcomes[0].path) as f:
        for key in ("000-single", "000-batch"):
            run = f["runs"][key]
            np.testing.assert_array_equal(run["neighbors"][()], ds.neighbors[:, :10])
            np.testing.assert_allclose(run["scores"][()], ds.distances[:, :10], rtol=1e-5)
            times = run.attrs["repeat_times_s"]
            assert len(times) == 2 and run.attrs["qps"] == pytest.approx(ds.n_test / times.min())
        assert f["runs"]["000-single"]["latencies_ns"].shape == (2, ds.n_test)
        assert f.attrs["build_time_s"] >= 0
        env = f.attrs["environment"]
        assert "cpu_model" in env and "git_commit" in env
    # A single-threaded adapter passes the proof.
    assert frame["single_thread_ok"].all()
    assert (frame["cpu_ratio"] <= 1.05).all()


def test_failures_are_recorded_and_the_sweep_goes_on(tmp_path, small_dense, monkeypatch):
    names = ["segfault", "brute", "hang", "duplicates"]
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    outcomes = runner.run_sweep(names, str(small_dense), options(tmp_path, timeout_s=8, runs=1))
    by_name = {o.algorithm: o for o in outcomes}
    assert by_name["brute"].status == "ok"
    assert by_name["segfault"].status == "failed" and "SIGSEGV" in by_name["segfault"].error
    assert by_name["hang"].status == "failed" and "timeout" in by_name["hang"].error
    assert by_name["duplicates"].status == "failed"
    assert "duplicate" in by_name["duplicates"].error and "'duplicates'" in by_name["duplicates"].error
    frame = results.load(tmp_path / "results")
    status = frame.groupby("algorithm")["status"].agg(set).to_dict()
    assert status == {"brute": {"ok"}, "segfault": {"failed"}, "hang": {"failed"}, "duplicates": {"failed"}}
    # Every failure is a readable record that names what went wrong.
    for name in ("segfault", "hang", "duplicates"):
        assert frame[frame["algorithm"] == name]["error"].str.len().min() > 0
    # The killed worker's temporary folder is removed with the worker's own scratch folder.
    log = (tmp_path / "results").rglob("*.log")
    made = [line.split(": ", 1)[1] for path in log for line in path.read_text().splitlines()
            if line.startswith("temporary folder: ")]
    assert len(made) == 1 and Path(made[0]).is_relative_to(temp) and not Path(made[0]).exists()
    assert not list(temp.glob("annsweep-worker-*"))
    # Failed builds are not rerun by default, and are with --force.
    again = runner.run_sweep(["segfault"], str(small_dense), options(tmp_path, runs=1))
    assert again[0].status == "skipped"


def test_extra_threads_are_caught(tmp_path, small_dense):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to show a CPU/wall ratio above 1")
    if max(psutil.cpu_percent(interval=1.0, percpu=True)) > 50:
        pytest.skip("another process keeps a core busy: an escaped adapter cannot show parallel CPU time")
    opts = options(tmp_path, runs=1, modes=("batch",))
    runner.run_sweep(["escape-threads", "busy-threads", "brute"], str(small_dense), opts)
    frame = results.load(tmp_path / "results").set_index("algorithm")
    escaped = frame.loc["escape-threads"]
    assert escaped["cpu_ratio"] > 1.05, escaped["cpu_ratio"]
    assert not escaped["single_thread_ok"]
    assert len(json.loads(escaped["affinity"])) > 1  # and it left its core
    busy = frame.loc["busy-threads"]
    assert busy["cpu_ratio"] <= 1.05  # pinned: the threads share one core...
    assert busy["other_threads_cpu_s"] > 0.1  # ...but the proof sees their CPU time
    assert busy["contention_s"] > 0.1  # (threads that ended: their CPU counts as contention)
    assert not busy["single_thread_ok"]
    assert frame.loc["brute"]["single_thread_ok"]


def test_threads_taking_turns_pass_and_competing_threads_are_flagged(tmp_path, small_dense):
    """A hand-off to one pool thread is sequential; a pool working beside the caller is not.

    Both stay pinned (CPU/wall <= 1) and keep their threads alive, and both spend
    most CPU off the calling thread: only the run-queue wait tells them apart.
    """
    opts = options(tmp_path, runs=2, modes=("batch",))
    runner.run_sweep(["handoff", "competing-pool"], str(small_dense), opts)
    frame = results.load(tmp_path / "results").set_index("algorithm")
    handoff, competing = frame.loc["handoff"], frame.loc["competing-pool"]
    for row in (handoff, competing):
        assert row["status"] == "ok", row["error"]
        assert row["cpu_ratio"] <= 1.05
        assert row["other_threads_cpu_s"] > 0.5 * row["best_time_s"]
    assert handoff["single_thread_ok"], handoff["contention_s"]
    assert competing["contention_s"] > 0.3 * competing["best_time_s"], competing["contention_s"]
    assert not competing["single_thread_ok"]


def test_killed_sweep_leaves_no_partial_result_and_resumes(tmp_path, small_dense):
    results_dir = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "harness.cli", "--algorithms-dir", str(FIXTURE_ALGORITHMS),
           "--results-dir", str(results_dir), "run", "--algorithm", "slow", "--dataset", str(small_dense),
           "--runs", "1", "--modes", "batch"]
    sweep = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_dir = results_dir / small_dense.stem / "k=10" / "slow"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out_dir.glob("*.h5"))) < 2:
        time.sleep(0.1)
    time.sleep(0.8)  # into the next build's sleep
    workers = psutil.Process(sweep.pid).children()
    assert workers, "no worker running at the time of the kill"
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    done = list(out_dir.glob("*.h5"))
    assert 2 <= len(done) < 6, sweep.stdout.read()
    for path in done:  # every visible result is complete
        assert results.read_status(path) == ("ok", "")
    _, alive = psutil.wait_procs(workers, timeout=5)  # the worker dies with its runner (PR_SET_PDEATHSIG)
    assert not alive
    # Resume: finished builds are skipped, the rest run, nothing is duplicated.
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.count("already done") == len(done)
    final = sorted(out_dir.glob("*.h5"))
    assert len(final) == 6
    assert all(results.read_status(p) == ("ok", "") for p in final)
    assert not list(out_dir.glob(".*tmp-*"))


def test_scratch_folders_of_runners_that_are_gone_are_removed(tmp_path):
    # A runner killed outright (as Ray kills a task's process) cannot remove its worker's scratch folder.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"{runner.SCRATCH_PREFIX}{dead.pid}-abc"
    mine = tmp_path / f"{runner.SCRATCH_PREFIX}{os.getpid()}-def"  # a live runner's: kept
    unnamed = tmp_path / f"{runner.SCRATCH_PREFIX}xyz"  # not ours to judge: kept
    for folder in (orphan, mine, unnamed):
        folder.mkdir()
        (folder / "job.json").write_text("{}")
    assert runner.remove_orphaned_scratch(tmp_path) == [orphan]
    assert not orphan.exists() and mine.exists() and unnamed.exists()


@pytest.mark.parametrize("field, value", [("k", 0), ("runs", 0), ("jobs", 0), ("k", 2.5), ("timeout_s", 0.0),
                                          ("memory_limit", -1), ("modes", ("singel",)), ("modes", ())])
def test_impossible_options_are_refused_before_anything_is_written(tmp_path, field, value):
    options = runner.RunOptions(results_root=tmp_path / "results", algorithms_root=FIXTURE_ALGORITHMS,
                                data_root=tmp_path / "data")
    setattr(options, field, value)
    with pytest.raises(ValueError, match=f"--{field.removesuffix('_s').replace('_', '-')}"):
        runner.run_sweep(["brute"], "random-xs-dense", options)
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


def test_the_runner_core_note_is_printed_once_per_sweep(tmp_path, monkeypatch, capsys):
    from harness.run import executors

    monkeypatch.setattr(executors, "available_cores", lambda: [0, 1])
    options = runner.RunOptions(threads=2, results_root=tmp_path / "results", algorithms_root=FIXTURE_ALGORITHMS)
    executor = runner.check_options(options)
    assert capsys.readouterr().out == ""  # checking options says nothing; the sweep says it, once
    executor.run([], lambda job, cores: None, lambda job, error: None)
    assert capsys.readouterr().out.count("every core of this machine, core 0 too") == 1
    quiet = runner.check_options(runner.RunOptions(threads=2, use_all_cores=True))
    assert quiet.note == ""
