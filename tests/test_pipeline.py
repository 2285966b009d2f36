"""Multi-representation datasets and the pipeline adapter (re-rank, fusion), against exact search."""

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from harness import results
from harness.data.dataset import MULTI, Dataset, DatasetError, QuerySet
from harness.data.store import open_dataset
from harness.data.writer import write_dataset, write_multi_dataset
from harness.kit import Catalogue, load_adapter_class
from harness.run import runner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "algorithms"
N_DOCS, N_QUERIES, VOCAB = 400, 30, 300


def _parts(tmp: Path, doc_ids=None, qrels=None) -> dict[str, Path]:
    """A dense (angular), a sparse (ip) and a euclidean representation of one made-up collection."""
    rng = np.random.default_rng(7)
    doc_ids = doc_ids or [f"d{i}" for i in range(N_DOCS)]
    query_ids = [f"q{i}" for i in range(N_QUERIES)]
    qrels = qrels or {q: {doc_ids[(3 * i) % N_DOCS]: 2, doc_ids[(3 * i + 1) % N_DOCS]: 1}
                      for i, q in enumerate(query_ids)}
    text = {"corpus/ids": doc_ids, "corpus/text": [f"doc {i}" for i in range(N_DOCS)],
            "queries/ids": query_ids, "queries/text": [f"query {i}" for i in range(N_QUERIES)]}
    dense = rng.normal(size=(N_DOCS + N_QUERIES, 24)).astype(np.float32)
    sparse = sp.random(N_DOCS + N_QUERIES, VOCAB, density=0.08, random_state=3, format="csr", dtype=np.float32)
    sparse.data = np.abs(sparse.data) + 0.01
    paths = {}
    for name, matrix, distance in (("dense", dense, "angular"), ("sparse", sparse, "ip"),
                                   ("pixels", dense[:, :8], "euclidean")):
        paths[name] = write_dataset(tmp / f"part-{name}.hdf5", matrix[:N_DOCS], matrix[N_DOCS:], distance,
                                    progress=False, text=text, qrels=qrels)
    return paths


@pytest.fixture(scope="module")
def multi(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("multi")
    parts = {name: Dataset(path) for name, path in _parts(tmp).items()}
    return write_multi_dataset(tmp / "toy.hdf5", parts, "dense", {"lexical": "sparse"}, name="toy")


def test_one_representation_runs_as_an_ordinary_dataset(multi, tmp_path):
    """``--dataset toy:dense`` for any adapter: the worker opens that representation, not the whole file."""
    view = open_dataset(str(multi)).representation("sparse")
    options = runner.RunOptions(k=10, runs=1, modes=("batch",), timeout_s=120, results_root=tmp_path / "results",
                                algorithms_root=ROOT / "algorithms")
    outcomes = runner.run_sweep(["exact"], view, options)
    assert [o.status for o in outcomes] == ["ok"], outcomes[0].error
    run = results.load(tmp_path / "results").iloc[0]
    assert run["dataset"] == "toy:sparse" and run["recall"] == 1.0
    with h5py.File(outcomes[0].path) as f:
        np.testing.assert_array_equal(f["runs/000-batch/neighbors"][()], view.neighbors[:, :10])


def pipeline(**build):
    cls = load_adapter_class("pipeline", ROOT / "algorithms")
    return cls(metric="angular", **build)


def exact_stage(representation: str) -> dict:
    return {"algorithm": "exact", "representation": representation}


# --- multi-representation datasets --------------------------------------------------------------

def test_representations_are_the_parts_row_for_row(multi, tmp_path):
    ds = Dataset(multi)
    assert ds.kind == MULTI and ds.representations == ["dense", "pixels", "sparse"] and ds.primary == "dense"
    for name in ds.representations:
        view, part = ds.representation(name), Dataset(multi.parent / f"part-{name}.hdf5")
        assert view.kind == part.kind and view.distance == part.distance and view.name == f"toy:{name}"
        np.testing.assert_array_equal(view.neighbors, part.neighbors)
        if sp.issparse(part.train):
            assert (view.train != part.train).nnz == 0 and (view.test != part.test).nnz == 0
        else:
            np.testing.assert_array_equal(view.train, part.train)
        assert view.qrels() == part.qrels() and view.strings("corpus/ids") == part.strings("corpus/ids")
    assert ds.representation("lexical").representation_name == "sparse"  # a role alias
    queries = ds.queries
    assert isinstance(queries, QuerySet) and len(queries) == N_QUERIES
    row = queries[3]
    np.testing.assert_array_equal(row["dense"], ds.representation("dense").test[3])
    assert sp.issparse(row["sparse"])
    # A plain reader gets the primary representation.
    np.testing.assert_array_equal(ds.train, ds.representation("dense").train)


def test_opened_by_name_with_a_representation(multi, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    os.link(multi, data / "toy.hdf5")
    view = open_dataset("toy:lexical", data)
    assert view.kind == "sparse" and view.representation_name == "sparse"
    with pytest.raises(DatasetError, match=r"no representation 'colour'.*dense, pixels, sparse.*lexical = sparse"):
        open_dataset("toy:colour", data)
    with pytest.raises(DatasetError, match="has one representation"):
        Dataset(multi.parent / "part-dense.hdf5", representation="dense")


def test_parts_of_different_collections_are_refused(tmp_path):
    good = _parts(tmp_path / "a")
    other_ids = _parts(tmp_path / "b", doc_ids=[f"x{i}" for i in range(N_DOCS)])
    other_qrels = _parts(tmp_path / "c", qrels={"q0": {"d5": 1}})
    out = tmp_path / "multi.hdf5"
    with pytest.raises(DatasetError, match=r"part-sparse.hdf5: its corpus/ids differ .* one id space"):
        write_multi_dataset(out, {"dense": Dataset(good["dense"]), "sparse": Dataset(other_ids["sparse"])}, "dense")
    with pytest.raises(DatasetError, match=r"part-sparse.hdf5: its qrels differ"):
        write_multi_dataset(out, {"dense": Dataset(good["dense"]), "sparse": Dataset(other_qrels["sparse"])},
                            "dense")
    with pytest.raises(DatasetError, match="alias 'x' names 'nope'"):
        write_multi_dataset(out, {"dense": Dataset(good["dense"])}, "dense", {"x": "nope"})
    assert not out.exists()  # nothing half-written


# --- re-ranking -------------------------------------------------------------------------------------

@pytest.mark.parametrize("storage", ["memory", "mmap"])
@pytest.mark.parametrize("first, target", [("sparse", "dense"), ("dense", "sparse"), ("sparse", "pixels")])
def test_rerank_of_the_whole_corpus_is_exact_search_under_the_target(multi, storage, first, target):
    ds = Dataset(multi)
    p = pipeline(stage1=exact_stage(first), rerank={"representation": target, "storage": storage})
    p.fit(ds)
    p.set_query_params(candidates=N_DOCS)
    truth = ds.representation(target).neighbors[:, :10]
    np.testing.assert_array_equal(p.batch_query(ds.queries, 10), truth)
    single = np.stack([p.query(ds.queries[i], 10) for i in range(N_QUERIES)])
    np.testing.assert_array_equal(single, truth)
    assert p.reference_representation == target
    facts = p.extra_metrics()
    row_bytes = {"dense": 24 * 4, "pixels": 8 * 4}.get(target)
    if row_bytes:  # every candidate's row read once per query
        assert facts["rerank_bytes_read_per_query"] == N_DOCS * row_bytes
    if storage == "mmap":
        assert facts["rerank_mapped_bytes"] == facts["rerank_vector_bytes"] > 0
        assert 0 < facts["rerank_resident_bytes"]
    else:
        assert facts["rerank_mapped_bytes"] == 0
        assert facts["rerank_resident_bytes"] == facts["rerank_vector_bytes"]


def test_rerank_depth_reorders_the_head_and_keeps_the_tail(multi):
    ds = Dataset(multi)
    p = pipeline(stage1=exact_stage("sparse"), rerank={"representation": "dense"})
    p.fit(ds)
    p.set_query_params(candidates=5)
    got = p.batch_query(ds.queries, 20)
    sparse_truth = ds.representation("sparse").neighbors[:, :20]
    dense = ds.representation("dense")
    for i in range(N_QUERIES):
        head = sparse_truth[i, :5]
        cos = dense.train[head] @ dense.test[i] / (np.linalg.norm(dense.train[head], axis=1) *
                                                   np.linalg.norm(dense.test[i]))
        np.testing.assert_array_equal(got[i, :5], head[np.argsort(-cos)])
        np.testing.assert_array_equal(got[i, 5:], sparse_truth[i, 5:])


# --- fusion ----------------------------------------------------------------------------------------

def _truth(ds: Dataset, representation: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
    view = ds.representation(representation)
    return view.neighbors[:, :depth], -view.distances[:, :depth].astype(np.float64)  # scores: higher is better


def test_rrf_of_two_exact_retrievers(multi):
    ds = Dataset(multi)
    p = pipeline(stage1=exact_stage("sparse"), stage2=exact_stage("dense"))
    p.fit(ds)
    p.set_query_params(candidates=50, fusion="rrf")
    got = p.batch_query(ds.queries, 10)
    (a, _), (b, _) = _truth(ds, "sparse", 50), _truth(ds, "dense", 50)
    for i in range(N_QUERIES):
        fused = {}
        for ranking in (a[i], b[i]):
            for rank, doc in enumerate(ranking, 1):
                fused[doc] = fused.get(doc, 0.0) + 1 / (60 + rank)
        expected = sorted(fused, key=lambda d: (-fused[d], d))[:10]
        np.testing.assert_array_equal(got[i], expected)


@pytest.mark.parametrize("normalisation", ["minmax", "zscore"])
def test_interpolation_of_two_exact_retrievers(multi, normalisation):
    ds = Dataset(multi)
    p = pipeline(stage1=exact_stage("sparse"), stage2=exact_stage("dense"))
    p.fit(ds)
    p.set_query_params(candidates=40, fusion="interpolate", alpha=0.3, normalisation=normalisation)
    got = p.batch_query(ds.queries, 10)
    (a_ids, a_s), (b_ids, b_s) = _truth(ds, "sparse", 40), _truth(ds, "dense", 40)
    b_s = 1 + b_s  # the angular ground truth stores 1 − cos; the pipeline scores cos (same after normalising)

    def norm(x):
        return (x - x.min()) / (x.max() - x.min()) if normalisation == "minmax" else (x - x.mean()) / x.std()

    for i in range(N_QUERIES):
        na, nb = norm(a_s[i]), norm(b_s[i])
        docs = set(a_ids[i]) | set(b_ids[i])
        in_a, in_b = dict(zip(a_ids[i], na, strict=True)), dict(zip(b_ids[i], nb, strict=True))
        score = {d: 0.3 * in_a.get(d, na.min()) + 0.7 * in_b.get(d, nb.min()) for d in docs}
        expected = sorted(score, key=lambda d: (-score[d], d))[:10]
        np.testing.assert_array_equal(got[i], expected)
    assert p.series() == "sparse:exact + dense:exact interpolation (" + normalisation + ")"


# --- parameters and failures -------------------------------------------------------------------------

def test_bad_pipeline_parameters_are_refused(multi):
    with pytest.raises(ValueError, match=r"pipeline: build parameter\(s\) \['stage1'\] are required"):
        pipeline()
    with pytest.raises(ValueError, match="either 'rerank' or 'stage2'"):
        pipeline(stage1=exact_stage("dense"), rerank={"representation": "sparse"}, stage2=exact_stage("sparse"))
    with pytest.raises(ValueError, match="storage must be one of memory, mmap"):
        pipeline(stage1=exact_stage("dense"), rerank={"representation": "sparse", "storage": "disk"})
    p = pipeline(stage1=exact_stage("dense"), rerank={"representation": "sparse"})
    with pytest.raises(DatasetError, match="no representation 'colour'"):
        pipeline(stage1=exact_stage("colour")).fit(Dataset(multi))
    with pytest.raises(ValueError, match="accepts.*text"):
        pipeline(stage1={"algorithm": "bm25s", "representation": "dense"}).fit(Dataset(multi))
    p.fit(Dataset(multi))
    with pytest.raises(ValueError, match="apply to fusion pipelines"):
        p.set_query_params(alpha=0.5)
    with pytest.raises(ValueError, match="exact: takes no query parameters"):
        p.set_query_params(stage1={"ef": 10})
    catalogue = Catalogue(ROOT / "algorithms")  # the one check of input kind: before the pipeline is made
    with pytest.raises(ValueError, match=r"pipeline accepts \['multi'\] input, dataset \S+ is dense"):
        catalogue.instantiate(catalogue.get("pipeline"), {"stage1": exact_stage("dense")},
                              Dataset(multi).representation("dense"))


def _pipeline_root(tmp_path: Path, stage: dict) -> Path:
    """An algorithms folder with the real pipeline adapter, fixture adapters and one config."""
    root = tmp_path / "algorithms"
    (root / "pipeline").mkdir(parents=True)
    (root / "pipeline" / "adapter.py").symlink_to(ROOT / "algorithms" / "pipeline" / "adapter.py")
    (root / "pipeline" / "config.yml").write_text(json.dumps({
        "adapter": "Pipeline",
        "groups": {"broken": {"build": {"stage1": stage}},
                   "fine": {"build": {"stage1": exact_stage("sparse"), "rerank": {"representation": "dense"}},
                            "query": {"candidates": 50}}}}))
    for name in ("segfault", "exact"):
        source = FIXTURES / name if (FIXTURES / name).is_dir() else ROOT / "algorithms" / name
        (root / name).symlink_to(source)
    return root


@pytest.mark.parametrize("stage, error", [
    ({"algorithm": "segfault", "representation": "dense"}, "SIGSEGV"),  # the stage crashes the worker
    ({"algorithm": "no-such-adapter", "representation": "dense"}, "unknown algorithm 'no-such-adapter'"),
    ({"algorithm": "exact", "representation": "dense", "build": {"M": 3}}, "exact: takes no build parameters"),
])
def test_a_failing_stage_is_a_failed_run_and_the_sweep_goes_on(multi, tmp_path, stage, error):
    options = runner.RunOptions(k=10, runs=1, timeout_s=120, results_root=tmp_path / "results",
                                algorithms_root=_pipeline_root(tmp_path, stage))
    outcomes = runner.run_sweep(["pipeline"], str(multi), options)
    by_group = {o.build.startswith("rerank") and "fine" or "broken": o for o in outcomes}
    assert by_group["broken"].status == "failed" and error in by_group["broken"].error
    assert by_group["fine"].status == "ok"
    frame = results.load(tmp_path / "results")
    ok = frame[frame["status"] == "ok"]
    assert len(ok) == 2 and (ok["series"] == "sparse:exact → dense re-rank (memory)").all()
    assert ok["nDCG@10"].notna().all() and ok["single_thread_ok"].all()
    table = results.run_table(frame)  # `annsweep results runs`
    assert len(table) == 2 and list(table["series"].unique()) == ["sparse:exact → dense re-rank (memory)"]
    assert {"nDCG@10", "R@10", "RR@10", "qps", "index_mib"} <= set(table.columns)
    # Plots draw one frontier per series (a pipeline shape), here nDCG@10 against QPS.
    from harness.report import plots
    from harness.report.metrics import run_metric

    fig = plots.draw(frame, run_metric("nDCG@10"), run_metric("qps"), title="t", k=10, colors={})
    assert fig.axes[0].get_legend_handles_labels()[1] == ["sparse:exact → dense re-rank (memory)"]
    with h5py.File(by_group["fine"].path) as f:
        assert f.attrs["scored_representation"] == "dense"  # kNN recall against exact dense search
        extra = json.loads(f["runs"]["000-batch"].attrs["extra_metrics"])
        assert extra["rerank_candidates_per_query"] == 50 and extra["stage1_index_bytes"] > 0


# --- the registry's multi-representation datasets, from the real collections -------------------------

def test_cranfield_in_three_representations(tmp_path_factory):
    from harness.data import registry, store

    spec = registry.REGISTRY["cranfield"]
    missing = registry.sources_missing(spec)
    if missing:
        pytest.skip(f"sources missing: {missing[0]}")
    pytest.importorskip("sentence_transformers", reason="the [embed] extra encodes cranfield-minilm")
    data = tmp_path_factory.mktemp("data")
    ds = Dataset(store.prepare("cranfield", data, progress=False), name="cranfield")
    assert ds.representations == ["minilm", "splade-tiny", "text"] and ds.aliases["dense"] == "minilm"
    assert ds.n_train == 1400 and len(ds.queries) == 225 and len(ds.qrels()) == 225
    kinds = {r: ds.representation(r).kind for r in ds.representations}
    assert kinds == {"minilm": "dense", "splade-tiny": "sparse", "text": "text"}
    for name, part in spec.parts.items():  # the same rows as the single-representation datasets
        single = Dataset(store.dataset_path(part, data))
        np.testing.assert_array_equal(ds.representation(name).neighbors, single.neighbors)
    # SPLADE candidates of the whole collection re-ranked by MiniLM (memory-mapped) = exact MiniLM search.
    p = pipeline(stage1=exact_stage("sparse"), rerank={"representation": "dense", "storage": "mmap"})
    p.fit(ds)
    p.set_query_params(candidates=1400)
    np.testing.assert_array_equal(p.batch_query(ds.queries, 10), ds.representation("dense").neighbors[:, :10])
