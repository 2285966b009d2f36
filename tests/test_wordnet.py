"""The ``wordnet-splade-tiny`` registry dataset, against the raw source files read independently.

The preparation test needs the real source folder (``$ANNSWEEP_SOURCE_DIR/wordnet-splade-tiny``,
CI: ``../shared/data``) and is skipped without it; the error tests build small fake folders.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness import paths
from harness.data import recipes, writer
from harness.data.dataset import Dataset, DatasetError
from harness.data.registry import REGISTRY, sources_missing
from harness.data.store import prepare

NAME = "wordnet-splade-tiny"
N_DOCS, N_QUERIES, N_SAMPLE, VOCAB = 117_659, 48_339, 10_000, 30_522
SEED = 20_240_601  # documented in harness/recipes.py and stored in the file's attrs


def source_folder() -> Path:
    return paths.source_dir() / NAME


def raw_csr(folder: Path, prefix: str) -> sp.csr_matrix:
    indptr, indices, data = (np.load(folder / f"{prefix}_{part}.npy") for part in ("indptr", "indices", "data"))
    return sp.csr_matrix((data.astype(np.float64), indices.astype(np.int64), indptr), shape=(len(indptr) - 1, VOCAB))


def raw_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Dataset:
    folder = source_folder()
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: set ANNSWEEP_SOURCE_DIR to the folder holding {NAME}/ "
                    f"(CI: ../shared/data)")
    return Dataset(prepare(NAME, tmp_path_factory.mktemp("wordnet"), progress=False))


@pytest.fixture(scope="module")
def raw() -> dict:
    folder = source_folder()
    return {"docs": raw_csr(folder, "doc"), "queries": raw_csr(folder, "q"),
            "doc_rows": raw_jsonl(folder / "docs.jsonl.gz"), "query_rows": raw_jsonl(folder / "queries.jsonl.gz")}


def test_registry_entry() -> None:
    spec = REGISTRY[NAME]
    assert (spec.kind, spec.distance) == ("sparse", "ip") and callable(spec.make)
    assert len(spec.sources) == 1 and spec.sources[0].folder == NAME


def test_base_is_every_document(prepared, raw) -> None:
    ds, docs = prepared, raw["docs"]
    assert (ds.kind, ds.distance, ds.dimension, ds.n_train) == ("sparse", "ip", VOCAB, N_DOCS)
    assert docs.shape == (N_DOCS, VOCAB)
    train = ds.train
    assert train.nnz == docs.nnz == 4_691_948
    np.testing.assert_array_equal(train.indptr, docs.indptr)
    np.testing.assert_array_equal(train.indices, docs.indices)
    np.testing.assert_array_equal(train.data, docs.data)  # float16 values are exact in float32
    assert ds.strings("corpus/ids") == [r["id"] for r in raw["doc_rows"]]
    assert ds.strings("corpus/text") == [r["text"] for r in raw["doc_rows"]]


def test_queries_are_the_seeded_sample(prepared, raw) -> None:
    ds, queries = prepared, raw["queries"]
    assert queries.shape[0] == N_QUERIES and ds.n_test == N_SAMPLE
    assert int(ds.attrs["query_sample_seed"]) == SEED and int(ds.attrs["n_queries_total"]) == N_QUERIES
    ids = ds.strings("queries/ids")
    assert len(set(ids)) == N_SAMPLE
    # Each stored query is the raw row with its id, weights included.
    row_of = {r["id"]: i for i, r in enumerate(raw["query_rows"])}
    rows = np.array([row_of[i] for i in ids])
    assert (np.diff(rows) > 0).all()  # in source order
    expected = queries[rows]
    test = ds.test
    np.testing.assert_array_equal(test.indptr, expected.indptr)
    np.testing.assert_array_equal(test.indices, expected.indices)
    np.testing.assert_array_equal(test.data, expected.data)
    assert ds.strings("queries/text") == [raw["query_rows"][i]["text"] for i in rows]
    # The documented sampling rule.
    np.testing.assert_array_equal(rows, np.sort(np.random.default_rng(SEED).choice(N_QUERIES, N_SAMPLE,
                                                                                    replace=False)))


def test_ground_truth_matches_brute_force(prepared, raw) -> None:
    ds = prepared
    assert ds.neighbors.shape == ds.distances.shape == (N_SAMPLE, 100)
    picks = np.random.default_rng(3).choice(N_SAMPLE, 12, replace=False)
    scores = (sp.csr_matrix(ds.test[picks], dtype=np.float64) @ raw["docs"].T).toarray()  # 12 × 117,659
    for row, q in zip(scores, picks, strict=True):
        true = -np.sort(row)[::-1][:100]  # distances, smaller is closer
        np.testing.assert_allclose(ds.distances[q], true, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(-row[ds.neighbors[q]], ds.distances[q], rtol=1e-5, atol=1e-6)
        assert len(set(ds.neighbors[q].tolist())) == 100


def test_attrs_name_source_and_licence(prepared) -> None:
    attrs = prepared.attrs
    assert "WordNet 3.0" in attrs["source"] and "SPLADE-tiny" in attrs["source"]
    assert "WordNet 3.0 licence" in attrs["license"] and "Apache-2.0" in attrs["license"]
    assert attrs["name"] == NAME and prepared.has_text


# --- missing or broken sources ------------------------------------------------------------------


def test_missing_source_folder_names_the_path(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ANNSWEEP_SOURCE_DIR", str(tmp_path / "nowhere"))
    assert sources_missing(REGISTRY[NAME]) == [tmp_path / "nowhere" / NAME]
    with pytest.raises(DatasetError) as info:
        prepare(NAME, tmp_path / "data", progress=False)
    message = str(info.value)
    assert str(tmp_path / "nowhere" / NAME) in message and "ANNSWEEP_SOURCE_DIR" in message
    assert not (tmp_path / "data" / f"{NAME}.hdf5").exists()


def test_missing_source_file_names_the_file(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "src" / NAME
    folder.mkdir(parents=True)
    for name in REGISTRY[NAME].sources[0].files:
        if name != "q_data.npy":
            (folder / name).write_bytes(b"")
    monkeypatch.setenv("ANNSWEEP_SOURCE_DIR", str(tmp_path / "src"))
    with pytest.raises(DatasetError, match="ANNSWEEP_SOURCE_DIR") as info:
        prepare(NAME, tmp_path / "data", progress=False)
    assert str(folder / "q_data.npy") in str(info.value) and "doc_data.npy" not in str(info.value)


def fake_source(folder: Path, n_docs: int = 4, n_queries: int = 3) -> None:
    """A small, valid source folder (fewer queries than the sample: only validation can pass)."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("doc", n_docs), ("q", n_queries)):
        np.save(folder / f"{prefix}_indptr.npy", np.arange(0, 2 * n + 1, 2, dtype=np.int64))
        np.save(folder / f"{prefix}_indices.npy", np.tile(np.array([5, 30_000], dtype=np.uint16), n))
        np.save(folder / f"{prefix}_data.npy", np.full(2 * n, 0.5, dtype=np.float16))
        name = "docs.jsonl.gz" if prefix == "doc" else "queries.jsonl.gz"
        with gzip.open(folder / name, "wt", encoding="utf-8") as f:
            for i in range(n):
                f.write(json.dumps({"id": f"{prefix}{i}", "text": f"text {i}"}) + "\n")


@pytest.mark.parametrize("broken_file,change,match", [
    ("doc_indices.npy", lambda a: np.where(a == 30_000, 30_522, a).astype(np.uint16), "outside the vocabulary"),
    ("q_data.npy", lambda a: np.where(np.arange(len(a)) == 3, np.nan, a).astype(np.float16), "non-finite weight"),
    ("doc_indptr.npy", lambda a: a[:-1], "row offsets end at 6 but"),
    ("q_data.npy", lambda a: a[:-1], "weights for"),
    ("doc_indices.npy", lambda a: a[::-1].copy(), "strictly increasing"),
    ("doc_indptr.npy", lambda a: a.astype(np.float64), "row offsets must be integers"),
])
def test_broken_sources_raise_errors_naming_the_file(tmp_path, monkeypatch, broken_file, change, match) -> None:
    folder = tmp_path / "src" / NAME
    fake_source(folder)
    np.save(folder / broken_file, change(np.load(folder / broken_file)))
    monkeypatch.setenv("ANNSWEEP_SOURCE_DIR", str(tmp_path / "src"))
    with pytest.raises(DatasetError, match=match) as info:  # the reader's own checks (prepare()
        recipes.wordnet_splade_tiny(folder)                  # would stop at the pinned SHA-256 first)
    assert str(folder / broken_file) in str(info.value)


def test_row_count_mismatch_and_too_few_queries(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "src" / NAME
    fake_source(folder)
    monkeypatch.setenv("ANNSWEEP_SOURCE_DIR", str(tmp_path / "src"))
    with pytest.raises(DatasetError, match="3 queries, fewer than the sample of 10000") as info:
        recipes.wordnet_splade_tiny(folder)
    assert str(folder / "q_indptr.npy") in str(info.value)
    with pytest.raises(DatasetError, match="SHA-256"):  # and prepare() refuses a folder of other files
        prepare(NAME, tmp_path / "data", progress=False)
    shutil.copy(folder / "queries.jsonl.gz", folder / "docs.jsonl.gz")  # 3 rows for 4 documents
    with pytest.raises(DatasetError, match="3 rows but doc_indptr.npy describes 4") as info:
        recipes.wordnet_splade_tiny(folder)
    assert str(folder / "docs.jsonl.gz") in str(info.value)


def test_text_datasets_roundtrip_and_are_checked(tmp_path) -> None:
    train = sp.random(4, 10, density=0.5, format="csr", dtype=np.float32, random_state=1)
    test = sp.random(2, 10, density=0.5, format="csr", dtype=np.float32, random_state=2)
    text = {"corpus/ids": ["a", "b", "c", "d"], "corpus/text": ["x", "é ü", "", "z"], "queries/ids": ["q1", "q2"]}
    ds = Dataset(writer.write_dataset(tmp_path / "t.hdf5", train, test, "ip", progress=False, text=text))
    assert ds.strings("corpus/text") == text["corpus/text"] and ds.strings("queries/ids") == ["q1", "q2"]
    with pytest.raises(DatasetError, match="no string dataset 'queries/text'"):
        ds.strings("queries/text")
    with pytest.raises(DatasetError, match="queries/ids has 1 strings for 2 rows"):
        writer.write_dataset(tmp_path / "u.hdf5", train, test, "ip", progress=False, text={"queries/ids": ["q"]})
    with pytest.raises(DatasetError, match="unknown text dataset 'qrels/ids'"):
        writer.write_dataset(tmp_path / "v.hdf5", train, test, "ip", progress=False, text={"qrels/ids": ["q"]})
