"""Index reuse across sweeps (``annsweep run --index-cache DIR``): adapters' ``save_index`` /
``load_index`` on the tiny generated datasets, and the worker's cache through the runner — a second
sweep loads instead of building, with the first build's time and identical answers; an entry whose
key or files do not match is rebuilt, never loaded."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from harness import results
from harness.data import store
from harness.kit import Catalogue, load_adapter_class
from harness.run import runner
from harness.run.index_cache import ENTRY_FILE, IndexCache
from harness.run.job import WorkerJob
from harness.run.plan import plan_sweep

K = 10

# (adapter, build, query, dataset): every adapter that saves its index, with what it keeps besides it
# (faiss: the refine wrapper, the IVF that takes nprobe, PQ / OPQ / 4-bit fast-scan chains).
CASES = [
    ("hnswlib", {"M": 8, "ef_construction": 40}, {"ef": 20}, "random-xs-dense"),
    ("faiss-ivf", {"nlist": 32}, {"nprobe": 3}, "random-xs-dense"),
    ("faiss-ivf", {"nlist": 32, "m": 16, "nbits": 6, "refine": True}, {"nprobe": 3, "k_factor": 4}, "random-xs-dense"),
    ("faiss-hnsw", {"M": 8, "efConstruction": 20}, {"efSearch": 20}, "random-xs-dense"),
    ("faiss-ivfsq", {"nlist": 32, "refine": True}, {"nprobe": 3, "k_factor": 2}, "random-xs-dense"),
    ("faiss-ivfpqfs", {"nlist": 32, "d_per_m": 4}, {"nprobe": 3, "k_factor": 4}, "random-xs-dense"),
    ("faiss-opq", {"nlist": 32, "refine": True}, {"nprobe": 3, "k_factor": 2}, "random-xs-dense"),
    ("faiss-opq", {"nlist": 32}, {"nprobe": 3}, "random-xs-dense"),
    ("blocked", {"n_postings": 400, "centroid_fraction": 0.1, "max_block_size": 16},
     {"query_cut": 8, "heap_factor": 0.8}, "random-xs-sparse"),
]


@pytest.fixture(scope="module")
def xs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xs")
    return {name: store.prepare(name, folder, progress=False) for name in ("random-xs-dense", "random-xs-sparse")}


@pytest.fixture(scope="module")
def opened(xs):
    datasets = {name: store.open_dataset(path) for name, path in xs.items()}
    yield datasets
    for dataset in datasets.values():
        dataset.close()


def answers(algo, dataset, query: dict) -> tuple[np.ndarray, np.ndarray]:
    algo.set_query_params(**query)
    test = dataset.test
    single = np.stack([np.pad(np.asarray(algo.query(test[i], K)), (0, K))[:K] for i in range(50)])
    return np.asarray(algo.batch_query(test, K)), single


@pytest.mark.parametrize("name,build,query,dataset_name", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_loaded_index_answers_as_the_built_one(name, build, query, dataset_name, opened, tmp_path):
    dataset = opened[dataset_name]
    cls = load_adapter_class(name)
    built = cls(dataset.distance, **build)
    built.fit(dataset)
    assert built.save_index(tmp_path) is True  # as the worker saves: after fit, before any query setting
    batch, single = answers(built, dataset, query)  # settings that are not the defaults the file holds
    assert any(p.is_file() for p in tmp_path.iterdir())
    loaded = cls(dataset.distance, **build)  # a fresh adapter, never fitted
    assert loaded.load_index(tmp_path, dataset) is True
    loaded_batch, loaded_single = answers(loaded, dataset, query)
    np.testing.assert_array_equal(loaded_batch, batch)
    np.testing.assert_array_equal(loaded_single, single)
    assert loaded.index_size_bytes() == built.index_size_bytes()
    if name == "hnswlib":  # its pool is held to one thread, as after fit (a loaded index starts with all cores)
        assert loaded._index.num_threads == built._index.num_threads == 1
    assert loaded.extra_metrics().keys() == built.extra_metrics().keys()
    assert cls.index_versions() and all(cls.index_versions().values())


@pytest.mark.parametrize("name,build,other,dataset_name", [
    ("hnswlib", {"M": 8, "ef_construction": 40}, {"M": 12, "ef_construction": 40}, "random-xs-dense"),
    ("faiss-ivf", {"nlist": 32}, {"nlist": 32, "refine": True}, "random-xs-dense"),
    ("faiss-ivf", {"nlist": 32}, {"nlist": 16}, "random-xs-dense"),
    ("faiss-ivfsq", {"nlist": 32}, {"nlist": 32, "refine": True}, "random-xs-dense"),
    ("faiss-hnsw", {"M": 8, "efConstruction": 20}, {"M": 8, "efConstruction": 20}, None),
    ("blocked", {"n_postings": 400}, {"n_postings": 500}, "random-xs-sparse"),
])
def test_an_index_of_another_build_is_refused(name, build, other, dataset_name, opened, tmp_path):
    """load_index checks what the saved index tells against the build (and, for faiss-hnsw, the type)."""
    dataset = opened[dataset_name or "random-xs-dense"]
    algo = load_adapter_class(name)(dataset.distance, **build)
    algo.fit(dataset)
    algo.save_index(tmp_path)
    if dataset_name is None:  # faiss-hnsw: an IVF saved under its file name is not its index
        ivf = load_adapter_class("faiss-ivf")(dataset.distance, nlist=8)
        ivf.fit(dataset)
        shutil.rmtree(tmp_path)
        tmp_path.mkdir()
        ivf.save_index(tmp_path)
    with pytest.raises(ValueError, match="saved"):
        load_adapter_class(name)(dataset.distance, **other).load_index(tmp_path, dataset)


def test_adapters_without_save_say_so(opened, tmp_path):
    algo = load_adapter_class("exact")("angular")
    assert algo.save_index(tmp_path) is False and algo.load_index(tmp_path, opened["random-xs-dense"]) is False


# --- through the runner ------------------------------------------------------------------------------


def one_build_root(tmp_path: Path, name: str, build: dict, query: dict) -> Path:
    """An algorithms folder holding ``name``'s adapter with a config.yml of one build and one setting."""
    definition = Catalogue().get(name)
    folder = tmp_path / "algorithms" / name
    shutil.copytree(definition.folder, folder, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    config = yaml.safe_load(definition.config_path.read_text())
    config["groups"] = {"one": {"build": build, "query": query}}
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    return folder.parent


def sweep(dataset: Path, root: Path, tmp_path: Path, name: str, force: bool = False) -> dict:
    options = runner.RunOptions(runs=1, timeout_s=300, results_root=tmp_path / "results", algorithms_root=root,
                                index_cache=tmp_path / "cache", force=force)
    outcomes = runner.run_sweep([name], str(dataset), options)
    assert [o.status for o in outcomes] == ["ok"], outcomes
    path = outcomes[0].path
    with h5py.File(path) as f:
        facts = {key: results.files.plain(f.attrs[key]) for key in
                 ("build_time_s", "index_cache", "index_load_time_s", "peak_rss_bytes", "index_size_bytes")}
        facts["neighbors"] = {key: f["runs"][key]["neighbors"][()] for key in f["runs"]}
        facts["recall"] = {key: float(f["runs"][key].attrs["recall"]) for key in f["runs"]}
    facts["log"] = path.with_suffix(".log").read_text()
    return facts


def entry_folder(tmp_path: Path) -> Path:
    (entry,) = (tmp_path / "cache").rglob(ENTRY_FILE)
    return entry.parent


def same_answers(a: dict, b: dict) -> None:
    assert a["recall"] == b["recall"]
    assert a["neighbors"].keys() == b["neighbors"].keys()
    for key in a["neighbors"]:
        np.testing.assert_array_equal(a["neighbors"][key], b["neighbors"][key])


def test_a_second_sweep_loads_the_first_ones_build(xs, tmp_path):
    build, query = {"M": 8, "ef_construction": 40}, {"ef": 20}
    root = one_build_root(tmp_path, "hnswlib", build, query)
    first = sweep(xs["random-xs-dense"], root, tmp_path, "hnswlib")
    assert first["index_cache"] == "saved" and np.isnan(first["index_load_time_s"])
    assert first["peak_rss_bytes"] > 10 * 2**20
    entry = json.loads((entry_folder(tmp_path) / ENTRY_FILE).read_text())
    assert entry["build"]["build_time_s"] == first["build_time_s"]
    assert entry["key"]["algorithm"] == "hnswlib" and entry["key"]["versions"] == {"hnswlib": "0.8.0"}
    assert not [p for p in (tmp_path / "cache").rglob(".tmp-*")]  # the temporary folder was renamed

    second = sweep(xs["random-xs-dense"], root, tmp_path, "hnswlib", force=True)
    assert second["index_cache"] == "loaded" and "built hnswlib" not in second["log"]
    assert second["build_time_s"] == first["build_time_s"]  # the original build's
    assert second["peak_rss_bytes"] == first["peak_rss_bytes"]
    assert 0 < second["index_load_time_s"] < first["build_time_s"]
    assert second["index_size_bytes"] == first["index_size_bytes"]
    same_answers(first, second)
    # The table has the new columns.
    frame = results.load(tmp_path / "results")
    assert set(frame["index_cache"]) == {"loaded"} and (frame["peak_rss_bytes"] > 0).all()


def test_an_entry_of_another_key_is_rebuilt_not_loaded(xs, tmp_path):
    build, query = {"nlist": 32, "m": 16, "refine": True}, {"nprobe": 3, "k_factor": 4}
    root = one_build_root(tmp_path, "faiss-ivf", build, query)
    first = sweep(xs["random-xs-dense"], root, tmp_path, "faiss-ivf")
    folder = entry_folder(tmp_path)
    entry = json.loads((folder / ENTRY_FILE).read_text())
    entry["key"]["dataset_sha256"] = "0" * 64  # as if saved from another dataset file
    (folder / ENTRY_FILE).write_text(json.dumps(entry))
    second = sweep(xs["random-xs-dense"], root, tmp_path, "faiss-ivf", force=True)
    assert second["index_cache"] == "saved" and "built faiss-ivf" in second["log"]
    assert "key differs in dataset_sha256" in second["log"]
    same_answers(first, second)  # faiss's seeded build: the same index again
    # The rebuilt entry replaced the mismatching one, and is loaded next time.
    third = sweep(xs["random-xs-dense"], root, tmp_path, "faiss-ivf", force=True)
    assert third["index_cache"] == "loaded" and third["build_time_s"] == second["build_time_s"]
    same_answers(first, third)


def test_another_dataset_file_has_another_entry(xs, tmp_path):
    dataset = store.open_dataset(xs["random-xs-dense"])
    root = one_build_root(tmp_path, "hnswlib", {"M": 8}, {"ef": 10})
    (plan_job,) = plan_sweep(["hnswlib"], dataset, Catalogue(root), k=K, runs=1, modes=("batch",), group=None,
                             force=False, results_root=tmp_path / "results", data_root=tmp_path, command_line=[],
                             index_cache=tmp_path / "cache").jobs
    dataset.close()
    assert plan_job.index_cache == (tmp_path / "cache").resolve()
    cls = load_adapter_class("hnswlib")
    mine, other = IndexCache(tmp_path / "cache", plan_job, cls), \
        IndexCache(tmp_path / "cache", replace(plan_job, dataset_sha256="f" * 64), cls)
    assert mine.folder != other.folder and mine.key != other.key
    # A job written before the option existed still reads (no cache).
    values = json.loads(plan_job.to_json())
    assert WorkerJob.from_json(json.dumps(values)) == plan_job
    del values["index_cache"]
    assert WorkerJob.from_json(json.dumps(values)).index_cache is None


@pytest.mark.parametrize("damage,name,build,query,dataset_name,index_name", [
    ("truncated", "hnswlib", {"M": 8, "ef_construction": 40}, {"ef": 20}, "random-xs-dense", "hnswlib.bin"),
    ("garbage", "blocked", {"n_postings": 100, "centroid_fraction": 0.05}, {"query_cut": 8}, "random-xs-sparse",
     "blocked.idx"),
])
def test_a_corrupt_entry_falls_back_to_building(damage, name, build, query, dataset_name, index_name, xs, tmp_path):
    root = one_build_root(tmp_path, name, build, query)
    first = sweep(xs[dataset_name], root, tmp_path, name)
    assert first["index_cache"] == "saved"
    folder = entry_folder(tmp_path)
    index_file = folder / index_name
    data = index_file.read_bytes()
    if damage == "truncated":  # the size check catches it before the adapter reads the file
        index_file.write_bytes(data[: len(data) // 2])
        expected = f"{index_name} has {len(data) // 2} bytes, the entry says {len(data)}"
    else:  # a file the entry vouches for (size and hash updated) that the adapter cannot read
        index_file.write_bytes(b"\0" * len(data))
        entry = json.loads((folder / ENTRY_FILE).read_text())
        entry["files"][0]["sha256"] = hashlib.sha256(index_file.read_bytes()).hexdigest()
        (folder / ENTRY_FILE).write_text(json.dumps(entry))
        expected = f"loading {folder} failed, building instead"
    second = sweep(xs[dataset_name], root, tmp_path, name, force=True)
    assert expected in second["log"], second["log"]
    assert second["index_cache"] == "saved" and f"built {name}" in second["log"]
    same_answers(first, second)
