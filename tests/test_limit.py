"""harness.data.limit: LIMIT-small reader, LIMIT regeneration and the parametric LIMIT-style generator.

Real-data tests read ``$ANNSWEEP_SOURCE_DIR/limit`` (skipped without it); expectations come from the raw
jsonl files with independent parses, not from the module under test.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from harness import paths
from harness.data import registry, store
from harness.data.corpora import CorpusError
from harness.data.dataset import Dataset
from harness.data.limit import generate_limit, read_limit_small, regenerate_limit

SYNTH = [f"thing {i:04d}" for i in range(300)]


def limit_folder() -> Path:
    folder = paths.source_dir() / "limit"
    if not (folder / "limit-small").is_dir():
        pytest.skip(f"{folder} not found: set ANNSWEEP_SOURCE_DIR to the shared data folder (CI: ../shared/data)")
    return folder


def raw(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def attrs_of(doc_id: str, text: str, vocab: set[str]) -> list[str]:
    """The attributes of "<id> likes A, B and C." (the final " and " is the one leaving two known attributes)."""
    assert text.startswith(doc_id + " likes ") and text.endswith(".")
    head, _, last = text[len(doc_id) + 7 : -1].rpartition(", ")
    items = head.split(", ") if head else []
    splits = [(last[:m.start()], last[m.end():]) for m in re.finditer(" and ", last)]
    ends = [s for s in splits if s[0] in vocab and s[1] in vocab] or [(last,)]
    assert len(ends) == 1, text
    return items + list(ends[0])


@pytest.fixture(scope="module")
def regenerated():
    return regenerate_limit(limit_folder(), seed=0)


def test_limit_small_as_published():
    folder = limit_folder() / "limit-small"
    c = read_limit_small(folder)
    corpus, queries, qrels = (raw(folder / f) for f in ("corpus.jsonl", "queries.jsonl", "qrels.jsonl"))
    assert (len(c.doc_ids), len(c.query_ids)) == (46, 1000)
    assert c.doc_ids == [r["_id"] for r in corpus] and c.doc_texts == [r["text"] for r in corpus]
    assert c.query_ids == [r["_id"] for r in queries] and c.query_texts == [r["text"] for r in queries]
    expected = defaultdict(dict)
    for r in qrels:
        expected[r["query-id"]][r["corpus-id"]] = r["score"]
    assert c.qrels == expected and all(len(v) == 2 for v in c.qrels.values())


def test_limit_small_malformed(tmp_path):
    folder = limit_folder() / "limit-small"
    for name in ("corpus.jsonl", "queries.jsonl"):
        (tmp_path / name).write_text((folder / name).read_text())
    (tmp_path / "qrels.jsonl").write_text('{"query-id": "query_0", "corpus-id": "Geneva Durben", "score": 1}\n{oops\n')
    with pytest.raises(CorpusError, match=r"qrels\.jsonl:2:"):
        read_limit_small(tmp_path)
    (tmp_path / "qrels.jsonl").write_text('{"query-id": "query_0", "corpus-id": "Nobody", "score": 1}\n')
    with pytest.raises(CorpusError, match=r"qrels\.jsonl:1:"):
        read_limit_small(tmp_path)


def test_regenerated_limit(regenerated):
    folder = limit_folder()
    c = regenerated
    queries, qrels = raw(folder / "limit" / "queries.jsonl"), raw(folder / "limit" / "qrels.jsonl")
    expected = defaultdict(dict)
    for r in qrels:
        expected[r["query-id"]][r["corpus-id"]] = r["score"]
    assert c.qrels == expected
    assert c.query_ids == [r["_id"] for r in queries] and c.query_texts == [r["text"] for r in queries]
    assert len(c.doc_ids) == len(set(c.doc_ids)) == 50_000
    query_attr = {r["_id"]: r["text"][len("Who likes ") : -1] for r in queries}
    vocab = set(query_attr.values()) | {s.strip() for s in (folder / "attributes.txt").read_text().splitlines()}
    parsed = [attrs_of(i, t, vocab) for i, t in zip(c.doc_ids, c.doc_texts, strict=True)]
    assert all(len(a) == 45 == len(set(a)) for a in parsed)
    assert set(itertools.chain.from_iterable(parsed)) <= vocab
    # every query attribute sits in exactly its two relevant documents (token index + regex cross-check)
    holders = defaultdict(set)
    for doc_id, attrs in zip(c.doc_ids, parsed, strict=True):
        for a in attrs:
            holders[a].add(doc_id)
    relevant = set(itertools.chain.from_iterable(expected.values()))
    assert len(relevant) == 46
    for q, a in query_attr.items():
        assert holders[a] == set(expected[q]), q
    blob = "\n".join(c.doc_texts)
    for q in ("query_0", "query_500", "query_999"):
        pat = rf"(?:likes |, | and ){re.escape(query_attr[q])}(?:, | and |\.$)"
        assert len(re.findall(pat, blob, flags=re.M)) == 2
    # the 46 relevant people follow combinations(range(46), 2) in order of first appearance
    people = list(dict.fromkeys(r["corpus-id"] for r in qrels))
    for i, (a, b) in enumerate(itertools.islice(itertools.combinations(range(46), 2), 1000)):
        assert set(expected[f"query_{i}"]) == {people[a], people[b]}
    qset = set(query_attr.values())
    assert all(not (set(a) & qset) for i, a in zip(c.doc_ids, parsed, strict=True) if i not in relevant)


def test_regenerated_limit_seeded(regenerated):
    again = regenerate_limit(limit_folder(), seed=0)
    assert again.doc_ids == regenerated.doc_ids and again.doc_texts == regenerated.doc_texts
    other = regenerate_limit(limit_folder(), seed=1)
    assert set(other.doc_ids) != set(regenerated.doc_ids) and other.qrels == regenerated.qrels


@pytest.mark.parametrize("pattern", ["dense", "random", "cycle", "disjoint"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_generator_structure(pattern, k):
    n, nq = 12, 4 if pattern == "disjoint" else 10
    c = generate_limit(n, k=k, n_queries=nq, attrs_per_doc=9, pattern=pattern, seed=3, attributes=SYNTH)
    assert len(c.doc_ids) == len(set(c.doc_ids)) == n and len(c.query_ids) == nq
    parsed = {i: attrs_of(i, t, set(SYNTH)) for i, t in zip(c.doc_ids, c.doc_texts, strict=True)}
    assert all(len(a) == len(set(a)) == 9 for a in parsed.values())
    groups = []
    for q, text in zip(c.query_ids, c.query_texts, strict=True):
        attr = re.fullmatch(r"Who likes (.+)\?", text).group(1)
        assert len(c.qrels[q]) == k
        assert {d for d, a in parsed.items() if attr in a} == set(c.qrels[q])
        groups.append(frozenset(c.doc_ids.index(d) for d in c.qrels[q]))
    assert len(set(groups)) == len(groups) or k == n
    if pattern == "dense":
        m = min(m for m in range(k, n + 1) if len(list(itertools.combinations(range(m), k))) >= nq)
        assert [tuple(sorted(g)) for g in groups] == list(itertools.combinations(range(m), k))[:nq]
    if pattern == "cycle":
        assert groups == [frozenset((i + j) % n for j in range(k)) for i in range(nq)]
    if pattern == "disjoint":
        assert groups == [frozenset(range(i * k, i * k + k)) for i in range(nq)]
    again = generate_limit(n, k=k, n_queries=nq, attrs_per_doc=9, pattern=pattern, seed=3, attributes=SYNTH)
    assert again == c


def test_generator_defaults():
    c = generate_limit(46, k=2, n_queries=1000, seed=0, attributes=SYNTH + [f"x {i}" for i in range(1000)])
    counts = Counter(d for v in c.qrels.values() for d in v)
    assert len(counts) == 46 and max(counts.values()) == 45
    assert all(t.count(", ") + 2 == 45 and t.count(" and ") == 1 for t in c.doc_texts)  # no attribute holds ", "
    assert len(generate_limit(5, pattern="cycle", attributes=SYNTH).query_ids) == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_docs=3, k=4),
        dict(n_docs=10, k=2, n_queries=46, pattern="dense"),
        dict(n_docs=10, k=2, n_queries=11, pattern="cycle"),
        dict(n_docs=10, k=3, n_queries=4, pattern="disjoint"),
        dict(n_docs=5, k=2, n_queries=11, pattern="random"),
        dict(n_docs=10, k=2, n_queries=5, pattern="zigzag"),
        dict(n_docs=10, k=2, n_queries=20, attributes=["a", "b", "c"]),
        dict(n_docs=10, k=2, n_queries=10, attrs_per_doc=1, pattern="cycle"),
        dict(n_docs=10, k=2, n_queries=5, attrs_per_doc=0),
        dict(n_docs=10, k=2, n_queries=3, attrs_per_doc=50, attributes=SYNTH[:20]),
    ],
)
def test_generator_errors(kwargs):
    with pytest.raises(ValueError):
        generate_limit(**kwargs)


def test_limit_small_bm25_through_the_registry(tmp_path):
    """The registry dataset: published qrels, LIMIT's own task measures, and lexical matching solves it."""
    from harness import paths
    from harness.data.dataset import Dataset
    from harness.run.scoring import task_metrics

    spec = registry.REGISTRY["limit-small-bm25"]
    if registry.sources_missing(spec):
        pytest.skip("limit/ not under ANNSWEEP_SOURCE_DIR")
    data = Dataset(store.prepare("limit-small-bm25", tmp_path, progress=False))
    raw = [json.loads(line) for line in open(paths.source_dir() / "limit" / "limit-small" / "qrels.jsonl")]
    assert {(r["query-id"], r["corpus-id"]) for r in raw} == {
        (q, d) for q, docs in data.qrels().items() for d in docs}
    names = json.loads(data.attrs["task_measures"])
    assert names[:3] == ["R@2", "R@10", "R@100"]
    got = task_metrics(data.neighbors[:, :46], data.strings("corpus/ids"), data.strings("queries/ids"),
                       data.qrels(), k=46, names=names)
    assert got["R@2"] > 0.95  # every query names its attribute: BM25 finds both people


def test_limit_generate_command_writes_runnable_datasets(tmp_path, capsys):
    """`annsweep limit generate`: one file per (size, representation), LIMIT-style qrels, R@k first."""
    from harness import cli

    args = ["--data-dir", str(tmp_path), "limit", "generate", "--docs", "30,60", "--k", "3", "--queries", "20",
            "--pattern", "random", "-r", "bm25,text", "--seed", "5"]
    assert cli.main(args) == 0
    names = sorted(p.stem for p in tmp_path.glob("*.hdf5"))
    assert names == ["limit-random-n30-k3-q20-s5-bm25", "limit-random-n30-k3-q20-s5-text",
                     "limit-random-n60-k3-q20-s5-bm25", "limit-random-n60-k3-q20-s5-text"]
    data = Dataset(tmp_path / "limit-random-n60-k3-q20-s5-text.hdf5")
    assert data.kind == "text" and data.n_train == 60 and len(data.queries) == 20
    assert json.loads(data.attrs["task_measures"])[0] == "R@3"
    qrels = data.qrels()
    assert len(qrels) == 20 and all(len(docs) == 3 for docs in qrels.values())
    texts = dict(zip(data.strings("corpus/ids"), data.strings("corpus/text"), strict=True))
    for qid, query in zip(data.strings("queries/ids"), data.queries, strict=True):
        attribute = query.removeprefix("Who likes ").removesuffix("?")
        pat = rf"(?:likes |, | and ){re.escape(attribute)}(?:, | and |\.$)"
        holders = {d for d, t in texts.items() if re.search(pat, t)}
        assert holders == set(qrels[qid])  # the attribute is held by exactly the relevant people
    capsys.readouterr()
    assert cli.main(args) == 0  # a second call keeps what exists
    assert capsys.readouterr().out.count("kept") == 4
    assert cli.main(["--data-dir", str(tmp_path), "limit", "generate", "--docs", "30", "-r", "glove"]) == 2
    assert "unknown representation 'glove'" in capsys.readouterr().err
