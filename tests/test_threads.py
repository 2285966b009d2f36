"""``annsweep run --threads N`` (issue 21): the batch mode on N threads, kept apart as mode batch-Nt,
proven to have used at most N cores and kept them busy; the one-thread modes stay as they were."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import yaml

from harness import cli, results
from harness.data import store
from harness.data.dataset import Dataset
from harness.kit import Catalogue
from harness.results.tables import check_row
from harness.run import executors, runner
from harness.run.job import WorkerJob
from harness.run.plan import plan_sweep
from harness.run.proof import MIN_THREADED_CPU_RATIO, PhaseProof, thread_environment

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "algorithms"
TWO_CORES = len(os.sched_getaffinity(0)) >= 2
needs_two_cores = pytest.mark.skipif(not TWO_CORES, reason="--threads 2 needs two cores")


# --- modes and result files ------------------------------------------------------------------------

def test_modes_batch_nt_are_their_own_modes_and_nothing_else_passes():
    assert [results.mode_threads(m) for m in ("single", "batch", "batch-2t", "batch-16t")] == [1, 1, 2, 16]
    for bad in ("batch-1t", "batch-0t", "batch-02t", "batch-2", "weird", "", None, "Batch"):
        assert results.mode_threads(bad) is None, bad
    assert results.threaded_mode(1) == "batch" and results.threaded_mode(4) == "batch-4t"
    row = {"dataset": "d", "k": 10, "algorithm": "a", "status": "ok", "recall": 0.5, "qps": 10.0, "best_time_s": 1.0}
    check_row({**row, "mode": "batch-2t", "threads": 2})
    check_row({**row, "mode": "batch"})  # files written before --threads have no threads attr
    for mode in ("batch-1t", "weird"):
        with pytest.raises(ValueError, match="mode"):
            check_row({**row, "mode": mode})
    with pytest.raises(ValueError, match="thread"):  # a batch-2t run in a one-thread file, and the reverse
        check_row({**row, "mode": "batch-2t", "threads": 1})
    with pytest.raises(ValueError, match="thread"):
        check_row({**row, "mode": "batch", "threads": 2})


def test_a_threads_run_has_its_own_result_file(tmp_path):
    one = results.result_path(tmp_path, "d", 10, "hnswlib", "M=16")
    assert one == tmp_path / "d" / "k=10" / "hnswlib" / "M=16.h5"  # unchanged
    assert results.result_path(tmp_path, "d", 10, "hnswlib", "M=16", threads=2).name == "M=16.threads-2.h5"
    assert results.result_path(tmp_path, "d", 10, "hnswlib", "M=16", threads=2).with_suffix(".log") != \
        one.with_suffix(".log")


def test_a_worker_job_carries_its_threads_and_cores(tmp_path):
    job = WorkerJob(algorithm="hnswlib", algorithm_folder=tmp_path, algorithms_root=tmp_path, build={"M": 8},
                    build_slug="M=8", queries=[{}], dataset="d", dataset_path=tmp_path / "d.hdf5",
                    representation=None, dataset_sha256="ab", k=10, runs=1, modes=("batch-2t",),
                    result_path=tmp_path / "r.h5", data_root=tmp_path, threads=2)
    placed = job.on_cores((1, 0))
    assert (placed.core, placed.cores, placed.pinned_cores) == (1, (1, 0), (1, 0))
    assert WorkerJob.from_json(placed.to_json()) == placed
    assert placed.header().attrs()["threads"] == 2
    with pytest.raises(ValueError, match="2 thread"):
        job.on_cores((1,))  # one core for two threads
    with pytest.raises(ValueError, match="distinct"):
        job.on_cores((1, 1))
    # A job written before --threads (no cores, no threads): one thread on its one core.
    old = json.loads(replace(job, threads=1, modes=("batch",)).on_core(3).to_json())
    del old["cores"], old["threads"]
    back = WorkerJob.from_json(json.dumps(old))
    assert (back.threads, back.core, back.pinned_cores) == (1, 3, (3,))
    assert thread_environment(2)["OMP_NUM_THREADS"] == "2" and thread_environment()["OMP_NUM_THREADS"] == "1"


# --- the proof -------------------------------------------------------------------------------------

def proof(cpu_ratio: float, affinity: list[int], **kw) -> PhaseProof:
    values = dict(wall_s=1.0, cpu_s=cpu_ratio, other_threads_cpu_s=cpu_ratio - 0.9, contention_s=0.6,
                  active_threads=2, num_threads=3, affinity=affinity, outside_wait_s=0.5)
    return PhaseProof(**{**values, **kw})


def test_the_n_thread_proof_wants_its_cores_each_busy():
    cores = (1, 0)
    assert proof(1.9, [0, 1]).ok(cores, threads=2)  # contention and outside wait do not apply
    assert proof(1.3, [1]).ok(cores, threads=2)  # a subset of its cores is within them
    assert not proof(1.0, [0, 1]).ok(cores, threads=2)  # one thread's worth: the setting ignored
    assert not proof(MIN_THREADED_CPU_RATIO - 0.01, [0, 1]).ok(cores, threads=2)
    assert not proof(2.2, [0, 1]).ok(cores, threads=2)  # more than two cores' worth
    assert not proof(1.9, [0, 1, 2]).ok(cores, threads=2)  # a thread allowed on a third core
    assert not proof(1.9, [0, 1]).ok((1,), threads=2)  # fewer cores than threads
    assert not proof(1.9, [0, 1]).ok((1, 0))  # one thread claimed: the single-thread proof
    assert proof(3.0, [0, 1, 2, 3]).ok((0, 1, 2, 3), threads=4)
    assert not proof(1.9, [0, 1, 2, 3]).ok((0, 1, 2, 3), threads=4)  # below 0.5 per core
    assert "needs 1.25-2.10" in proof(1.0, [0, 1]).describe(2)


def test_the_single_thread_proof_is_as_strict_as_before():
    honest = proof(0.99, [1], other_threads_cpu_s=0.0, contention_s=0.0, outside_wait_s=0.0)
    assert honest.ok(1) and honest.ok((1,)) and honest.ok([1], threads=1)
    assert not honest.ok(0) and not honest.ok((1, 0))
    assert not replace(honest, contention_s=0.3).ok(1)
    assert not replace(honest, outside_wait_s=0.2).ok(1)
    assert not replace(honest, cpu_s=1.2).ok(1)
    assert not replace(honest, cpu_s=0.5).ok(1)
    assert not replace(honest, affinity=[0, 1]).ok(1)


# --- cores -----------------------------------------------------------------------------------------

def test_jobs_times_threads_cores_are_chosen_or_refused(monkeypatch, capsys):
    monkeypatch.setattr(executors, "available_cores", lambda: [0, 1, 2, 3])
    assert executors.local_cores(1, threads=2) == [3, 2]
    assert executors.local_cores(1, threads=3) == [3, 2, 1]
    with pytest.raises(ValueError, match=r"--jobs 2 × --threads 2 = 4 cores: only 3 core\(s\).*--use-all-cores"):
        executors.local_cores(2, threads=2)
    assert executors.local_cores(2, threads=2, use_all_cores=True) == [3, 2, 1, 0]
    assert capsys.readouterr().out == ""
    assert executors.local_cores(1, threads=4) == [3, 2, 1, 0]  # every core: core 0 too, said in a line
    assert "core 0 too" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"--threads 5 = 5 cores: only 3 core\(s\) usable of \[0, 1, 2, 3\]$"):
        executors.local_cores(1, threads=5)
    with pytest.raises(ValueError, match="--core"):
        executors.local_cores(1, core=2, threads=2)
    assert executors.LocalExecutor([3, 2, 1, 0], threads=2).slots == [(3, 2), (1, 0)]
    assert executors.LocalExecutor([3, 2], threads=1).slots == [(3,), (2,)]


def test_core_leases_of_several_cores_are_all_or_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "LEASE_DIR", tmp_path / "leases")
    got: list[tuple[int, ...]] = []

    def lease_two() -> None:
        with executors.cores_lease(2, [0, 1], poll_s=0.01) as cores:
            got.append(cores)

    with executors.core_lease([1]):
        waiter = threading.Thread(target=lease_two, daemon=True)
        waiter.start()
        time.sleep(0.2)
        assert got == []  # core 1 is held: the two-core lease waits...
        with executors.core_lease([0], poll_s=0.01) as core:  # ...without holding core 0 meanwhile
            assert core == 0
    waiter.join(5)
    assert got == [(1, 0)]


# --- planning and the command line -----------------------------------------------------------------

def test_planning_refuses_an_adapter_without_a_parallel_batch(tmp_path, small_dense, capsys):
    with Dataset(small_dense) as dataset:
        plan = plan_sweep(["brute", "ignores-threads"], dataset, Catalogue(FIXTURES, threads=2), k=10, runs=1,
                          modes=("batch-2t",), group=None, force=False, results_root=tmp_path, data_root=tmp_path,
                          command_line=[])
    assert [j.algorithm for j in plan.jobs] == ["ignores-threads"]
    job = plan.jobs[0]
    assert (job.threads, job.modes, job.result_path.name) == (2, ("batch-2t",), "default.threads-2.h5")
    [refused] = plan.outcomes
    assert refused.algorithm == "brute" and refused.status == "unsupported" and "parallel_batch" in refused.error
    assert "skip brute: runs its batch on one thread" in capsys.readouterr().out
    with Dataset(small_dense) as dataset, pytest.raises(ValueError, match="parallel_batch"):
        Catalogue(FIXTURES, threads=2).instantiate(Catalogue(FIXTURES).get("brute"), {}, dataset)  # never made


def test_threads_and_modes_do_not_mix_on_the_command_line(tmp_path, small_dense, capsys):
    base = ["--results-dir", str(tmp_path), "--algorithms-dir", str(FIXTURES), "run", "-a", "ignores-threads",
            "-d", str(small_dense)]
    assert cli.main([*base, "--threads", "2", "--modes", "batch"]) == 2
    assert "--threads 2 measures only mode batch-2t: leave out --modes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*base, "--threads", "0"])
    assert "must be at least 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="cannot be combined"):
        runner.modes_of(runner.RunOptions(threads=2, modes=("single",)))
    assert runner.modes_of(runner.RunOptions(threads=2)) == ("batch-2t",)
    assert runner.modes_of(runner.RunOptions()) == ("single", "batch")
    for command in (["results", "runs"], ["plot"], ["leaderboard"]):
        with pytest.raises(SystemExit):
            cli.main(["--results-dir", str(tmp_path), *command, "--mode", "batch-1t"])
        assert "batch-<N>t" in capsys.readouterr().err


# --- through the runner ----------------------------------------------------------------------------

@needs_two_cores
def test_an_adapter_that_ignores_the_setting_is_flagged(tmp_path, small_dense):
    opts = runner.RunOptions(runs=2, timeout_s=120, threads=2, results_root=tmp_path / "results",
                             algorithms_root=FIXTURES)
    outcomes = runner.run_sweep(["ignores-threads"], str(small_dense), opts)
    assert [o.status for o in outcomes] == ["ok"], outcomes
    assert outcomes[0].path.name == "default.threads-2.h5"
    frame = results.load(tmp_path / "results")
    assert list(frame["mode"]) == ["batch-2t"] and list(frame["threads"]) == [2]
    run = frame.iloc[0]
    assert run["recall"] == 1.0  # right answers...
    assert run["cpu_ratio"] < MIN_THREADED_CPU_RATIO, run["cpu_ratio"]  # ...on one core's worth of CPU
    assert not run["single_thread_ok"]
    assert sorted(json.loads(run["environment"])["core"]) == sorted(json.loads(run["affinity"])) == [0, 1]
    assert not results.trusted(frame).any()
    assert "NOT 2-THREADED" in outcomes[0].path.with_suffix(".log").read_text()


XS_BUILDS = {"hnswlib": ({"M": 16, "ef_construction": 100}, {"ef": [20, 80]}),
             "faiss-ivf": ({"nlist": 100}, {"nprobe": [4, 16]})}


@pytest.fixture(scope="module")
def xs_dense(tmp_path_factory) -> Path:
    """random-xs-dense (10,000 × 64, 1,000 queries, angular), generated offline."""
    return store.prepare("random-xs-dense", tmp_path_factory.mktemp("data"), progress=False)


def small_grids(tmp_path: Path) -> Path:
    """hnswlib and faiss-ivf with one build and two query settings each."""
    catalogue = Catalogue()
    for name, (build, query) in XS_BUILDS.items():
        definition = catalogue.get(name)
        folder = tmp_path / "algorithms" / name
        shutil.copytree(definition.folder, folder, ignore=shutil.ignore_patterns("__pycache__"))
        config = yaml.safe_load(definition.config_path.read_text())
        config["groups"] = {"small": {"build": build, "query": query}}
        (folder / "config.yml").write_text(yaml.safe_dump(config))
    return tmp_path / "algorithms"


@needs_two_cores
def test_hnswlib_and_faiss_ivf_on_two_threads_pass_and_keep_their_recall(tmp_path, xs_dense):
    if max(psutil.cpu_percent(interval=1.0, percpu=True)) > 50:
        pytest.skip("another process keeps a core busy: a two-thread run cannot have both cores")
    base = dict(runs=3, timeout_s=300, results_root=tmp_path / "results", algorithms_root=small_grids(tmp_path))
    names = list(XS_BUILDS)
    one = runner.run_sweep(names, str(xs_dense), runner.RunOptions(modes=("batch",), **base))
    two = runner.run_sweep(names, str(xs_dense), runner.RunOptions(threads=2, **base))  # not skipped: own files
    assert [o.status for o in one + two] == ["ok"] * 4, one + two
    frame = results.load(tmp_path / "results")
    assert sorted(set(frame["mode"])) == ["batch", "batch-2t"]
    threaded = frame[frame["mode"] == "batch-2t"].set_index(["algorithm", "query_params"])
    single = frame[frame["mode"] == "batch"].set_index(["algorithm", "query_params"])
    assert (threaded["threads"] == 2).all() and (single["threads"] == 1).all()
    proof_columns = ["cpu_ratio", "affinity", "best_time_s"]
    assert threaded["single_thread_ok"].all(), threaded[proof_columns]
    assert (threaded["cpu_ratio"] > 1.25).all() and (threaded["affinity"] == "[0, 1]").all()
    assert single["single_thread_ok"].all(), single[proof_columns]
    assert len(threaded) == len(single) == 4
    for (name, params), run in threaded.iterrows():
        baseline = single.loc[(name, params), "recall"]
        if name == "faiss-ivf":  # the same index (seeded k-means) and an exact scan of the same lists
            assert run["recall"] == pytest.approx(baseline, abs=1e-9), params
        else:  # hnswlib inserts in parallel: another graph of the same quality
            assert run["recall"] >= baseline - 0.02, (params, run["recall"], baseline)
    board = results.summarize(frame)
    assert sorted(set(board["mode"])) == ["batch", "batch-2t"]  # never one row of both
