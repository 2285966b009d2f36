"""LIMIT (Weller, Boratko, Naim, Lee 2025, "On the Theoretical Limitations of Embedding-Based Retrieval").

Conventions (checked against the published files under ``paths.source_dir() / "limit"``):

* jsonl, BEIR style: corpus ``{"_id", "title", "text"}`` (titles empty), queries ``{"_id": "query_<i>",
  "text": "Who likes X?"}``, qrels one line per pair ``{"query-id", "corpus-id", "score": 1}``.
* a document is ``"<First Last> likes A, B, ... and Z."`` with the person's name as its id; 45 attributes each.
* query ``i`` is relevant to people ``(a, b)`` = the i-th pair of ``itertools.combinations(range(46), 2)`` over
  the 46 relevant people in their order of first appearance in the qrels (sorted order does not reproduce them).
  Only 1,000 of the 1,035 pairs are used, so the last people hold fewer than 45 query attributes; like
  LIMIT-small, their documents are padded with non-query attributes.
* two query attributes of LIMIT, "Barnacles" and "Nautiluses", are not in ``attributes.txt``
  (LIMIT-small only lacks "Nautiluses"); query attributes are taken from the query texts, so that is harmless.

``read_limit_small(folder)`` reads LIMIT-small as published; ``regenerate_limit(folder, seed)`` rebuilds the
50,000-document LIMIT corpus around the published queries/qrels (document order: seeded shuffle, so that no
ranker can profit from relevant documents coming first on ties); ``generate_limit(...)`` builds parametric
LIMIT-style sets.  Same arguments => byte-identical collection.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import numpy as np

from harness import paths
from harness.data.corpora import CorpusError, TextCollection

__all__ = ["generate_limit", "read_limit_small", "regenerate_limit", "limit_dir"]

LIMIT_DOCS, LIMIT_ATTRS = 50_000, 45
_QUERY = re.compile(r"Who likes (.+)\?")

FIRST_NAMES = """Aaron Abigail Ada Adele Adrian Agatha Agnes Aiden Alba Alden Alfred Alice Alma Alvin Amara Ambrose
Amelia Amos Anika Ansel Antonia Archer Arlo Astrid Atticus Aubrey Audra August Aurora Austin Avery Basil Beatrix
Benedict Bernadette Bertram Bianca Blaise Bonnie Boris Brenna Brian Bruno Caleb Calla Calvin Camilla Carmen Casper
Cecil Celeste Chandra Chester Clara Clement Colette Conrad Cora Cyrus Dahlia Damian Daphne Darius Delia Desmond Diana
Dmitri Dolores Dorian Dulcie Edgar Edith Edmund Eleanor Elias Eliza Elmer Elodie Emery Emil Enid Ernest Esme Ezra
Fabian Faye Felix Fern Fiona Fletcher Flora Floyd Frances Gareth Georgia Gideon Gilda Gordon Greta Gwen Hamish Harriet
Hazel Hector Helena Henrik Hilda Horace Hugo Ida Ignatius Imogen Ingrid Ira Irene Isaac Isla Ivan Ivy Jasper Jemima
Jethro Joan Jonah Josephine Jude Juniper Kai Katya Keegan Kira Lars Laurel Leander Lena Leon Lila Linus Lorna Lucian
Lydia Magnus Mabel Malcolm Marisol Matthias Maude Maxine Milo Mina Miriam Monty Nadia Neville Nia Nico Nora Octavia
Odette Olaf Olive Orion Orla Oscar Otto Pearl Percival Petra Phoebe Piers Priya Quentin Quinn Ramona Rafael Reuben
Rhea Rocco Rosalind Rufus Sabine Sasha Selma Seth Silas Simone Soren Stella Sybil Tabitha Tamsin Thaddeus Thea Tobias
Una Ursula Valentin Vera Vesna Victor Viola Wallace Wanda Wendell Willa Winston Xander Xenia Yara Yusuf Zadie Zara
Zeke Zelda Abel Bettina Cedric Della Eamon Flavia Gustav Hattie Ilse Jorge Kenji Leontine Marek Noemi Osric Paloma
Rupert Saoirse Teodor Uma Viggo Wilhelmina Yvette Zoltan Anselm Brigid Cosmo Dagny Elspeth Florian Ginevra
Hollis""".split()
LAST_NAMES = """Abernathy Ackerly Adair Albright Aldous Ambler Ashdown Atwood Babcock Bairstow Balfour Barlow Beckett
Bellamy Birchall Blackwood Bonham Bramley Brinkley Buckley Burrows Calloway Carver Castellan Chadwick Chisholm
Claybourne Colquitt Corbin Crandall Crowther Dalby Darrow Delacroix Dempsey Dimmock Dorsey Drummond Dunmore
Eastwick Eckhart
Ellery Elwood Emsley Everett Fairbairn Falconer Farrow Fenwick Finchley Fitzroy Fleming Forsythe Fothergill Gadsby
Galloway Garrick Gilchrist Glenister Goodall Greaves Grimshaw Hadley Halloran Hargrove Hartwell Hawthorne Hazelwood
Heathcote Hennessy Hobart Holloway Hornby Huxley Ibbotson Ingram Irwin Jardine Jellicoe Kendrick Kershaw Kilbride
Kingsley Kirkwood Lachlan Langford Larkin Lathrop Leland Lindqvist Lockhart Loxley Lundgren Macready Mallory Marchbanks
Marlowe Mayhew Merriweather Middleton Milburn Montague Morland Mortimer Nettleship Newbury Northcott Norwood Oakley
Ogilvie Oldham Ormsby Osgood Padgett Palmeroy Pemberton Penrose Pickering Pilkington Prescott Quartermaine Quigley
Radcliffe Rainsford Ravenscroft Redgrave Renshaw Ripley Rochester Rowntree Rutherford Salisbury Sandoval Satterly
Scarborough Seabrook Selwyn Sheridan Shipley Sinclair Slater Somerby Southgate Stanhope Stirling Sutcliffe Swinburne
Talbot Tarrant Templeton Thackeray Thornbury Tolliver Townsend Tremaine Trevelyan Tunstall Underhill Upton Vance
Vandermeer Varga Vaughan Verity Wadsworth Wakefield Walcott Warburton Waverley Wetherby Whitcombe Wickham Wilberforce
Winthrop Woodhouse Wren Yardley Yelland Yorke Zabel Zeller Zimmerly Abbott Aldridge Bannister Bexley Cartwright
Colfax Dunstan Eldridge Farnsworth Galbraith Harcourt Holcombe Jessop Keswick Lamberton Linwood Maitland Nightingale
Oxley Pendleton Quayle Rookwood Saltonstall Thistlewood Umberfield Vickery Wexford Yarborough Ainsworth Blythe
Cavendish Devereux Esterly Fairweather Grantham Hollingsworth Inchbald Kettering Lowther Mablethorpe Nesbitt Ottley
Pettigrew Rathbone Stainforth Treadwell Ulverston Whitfield Ashcombe Brackenbury Culpepper Dashwood Ellerby
Fawcett""".split()


def limit_dir() -> Path:
    return paths.source_dir() / "limit"


# --------------------------------------------------------------------------- reading


def _jsonl(path: Path, keys: tuple[str, ...]) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusError(f"{path}:{lineno}: not JSON ({e.msg})") from None
            if not isinstance(row, dict) or any(k not in row for k in keys):
                raise CorpusError(f"{path}:{lineno}: expected an object with keys {', '.join(keys)}")
            rows.append((lineno, row))
    return rows


def _records(path: Path) -> tuple[list[str], list[str]]:
    ids, texts, seen = [], [], set()
    for lineno, row in _jsonl(path, ("_id", "text")):
        i, t = row["_id"], row["text"]
        if not isinstance(i, str) or not isinstance(t, str) or not i:
            raise CorpusError(f"{path}:{lineno}: _id and text must be strings")
        if i in seen:
            raise CorpusError(f"{path}:{lineno}: duplicate id {i!r}")
        seen.add(i)
        ids.append(i)
        texts.append(t)
    return ids, texts


def _qrels(path: Path, query_ids: list[str], doc_ids: list[str] | None) -> dict[str, dict[str, int]]:
    qset, dset, qrels = set(query_ids), None if doc_ids is None else set(doc_ids), {}
    for lineno, row in _jsonl(path, ("query-id", "corpus-id", "score")):
        q, d, s = row["query-id"], row["corpus-id"], row["score"]
        if not isinstance(s, int) or isinstance(s, bool):
            raise CorpusError(f"{path}:{lineno}: score must be an integer")
        if q not in qset or (dset is not None and d not in dset):
            raise CorpusError(f"{path}:{lineno}: unknown query or document id ({q!r}, {d!r})")
        if s >= 1:
            qrels.setdefault(q, {})[d] = s
    return qrels


def read_limit_small(folder: str | Path) -> TextCollection:
    """LIMIT-small exactly as published (``corpus.jsonl``, ``queries.jsonl``, ``qrels.jsonl``)."""
    folder = Path(folder)
    doc_ids, doc_texts = _records(folder / "corpus.jsonl")
    query_ids, query_texts = _records(folder / "queries.jsonl")
    return TextCollection("limit-small", doc_ids, doc_texts, query_ids, query_texts,
                          _qrels(folder / "qrels.jsonl", query_ids, doc_ids))


# --------------------------------------------------------------------------- generating


def _text(name: str, attrs: list[str]) -> str:
    body = attrs[0] if len(attrs) == 1 else ", ".join(attrs[:-1]) + " and " + attrs[-1]
    return f"{name} likes {body}."


def _names(rng: np.random.Generator, n: int, exclude: set[str]) -> list[str]:
    """``n`` distinct "First Last" names (not in ``exclude``), sampled without replacement."""
    nf, nl = len(FIRST_NAMES), len(LAST_NAMES)
    if n + len(exclude) > nf * nl:
        raise ValueError(f"at most {nf * nl - len(exclude)} generated names available, {n} requested")
    codes = rng.choice(nf * nl, size=min(nf * nl, n + len(exclude)), replace=False)
    names = (f"{FIRST_NAMES[c // nl]} {LAST_NAMES[c % nl]}" for c in codes.tolist())
    return list(itertools.islice((s for s in names if s not in exclude), n))


def _pads(rng: np.random.Generator, counts: np.ndarray, pool: int, chunk: int = 4096) -> list[list[int]]:
    """Per row, ``counts[r]`` distinct random indices in ``range(pool)``, in random order."""
    out: list[list[int]] = []
    cmax = int(counts.max(initial=0))
    for start in range(0, len(counts), chunk):
        c = counts[start:start + chunk]
        if cmax == 0:
            out.extend([] for _ in c)
            continue
        keys = rng.random((len(c), pool))
        idx = np.argpartition(keys, cmax - 1, axis=1)[:, :cmax]
        idx = np.take_along_axis(idx, np.argsort(np.take_along_axis(keys, idx, 1), axis=1), 1)
        out.extend(row[:n] for row, n in zip(idx.tolist(), c.tolist(), strict=True))
    return out


def _docs(rng, names: list[str], owned: list[list[str]], pool: list[str], per_doc: int) -> list[str]:
    """Texts: each person's own (query) attributes plus pool attributes up to ``per_doc``, shuffled."""
    need = np.array([per_doc - len(o) for o in owned], dtype=np.int64)
    if need.min(initial=0) < 0:
        most = int(per_doc - need.min())
        raise ValueError(f"attrs_per_doc={per_doc} is below the {most} query attributes of some document")
    if need.max(initial=0) > len(pool):
        raise ValueError(f"need {int(need.max())} non-query attributes per document, only {len(pool)} available")
    texts = []
    for name, own, pad in zip(names, owned, _pads(rng, need, len(pool)), strict=True):
        attrs = list(own) + [pool[j] for j in pad]
        if own:
            attrs = [attrs[j] for j in rng.permutation(len(attrs))]
        texts.append(_text(name, attrs))
    return texts


def _read_attributes(path: Path) -> list[str]:
    return list(dict.fromkeys(s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()))


def regenerate_limit(folder: str | Path, seed: int = 0) -> TextCollection:
    """Published LIMIT queries/qrels (``folder/limit``) plus a regenerated 50,000-document corpus.

    ``folder`` is the data folder holding ``limit/{queries,qrels}.jsonl`` and ``attributes.txt``.
    """
    folder = Path(folder)
    query_ids, query_texts = _records(folder / "limit" / "queries.jsonl")
    qrels = _qrels(folder / "limit" / "qrels.jsonl", query_ids, None)
    people = list(dict.fromkeys(d for q in query_ids for d in qrels.get(q, {})))
    pairs = list(itertools.combinations(range(len(people)), 2))
    if len(people) != 46 or any(set(qrels.get(q, ())) != {people[a], people[b]}
                                for q, (a, b) in zip(query_ids, pairs, strict=False)):
        raise CorpusError(f"{folder / 'limit' / 'qrels.jsonl'}: not LIMIT's 46-people pair structure")
    owned: list[list[str]] = [[] for _ in people]
    query_attrs = []
    for q, t, (a, b) in zip(query_ids, query_texts, pairs, strict=False):
        m = _QUERY.fullmatch(t)
        if not m:
            raise CorpusError(f"{folder / 'limit' / 'queries.jsonl'}: query {q}: expected 'Who likes X?', got {t!r}")
        query_attrs.append(m.group(1))
        owned[a].append(m.group(1))
        owned[b].append(m.group(1))
    qset = set(query_attrs)
    if len(qset) != len(query_attrs):
        raise CorpusError(f"{folder / 'limit' / 'queries.jsonl'}: query attributes are not distinct")
    pool = [a for a in _read_attributes(folder / "attributes.txt") if a not in qset]
    rng = np.random.default_rng(seed)
    others = _names(rng, LIMIT_DOCS - len(people), set(people))
    names = people + others
    texts = _docs(rng, names, owned + [[] for _ in others], pool, LIMIT_ATTRS)
    order = rng.permutation(len(names)).tolist()
    return TextCollection("limit", [names[i] for i in order], [texts[i] for i in order], query_ids, query_texts,
                          qrels)


def _subsets(pattern: str, n: int, k: int, nq: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    if pattern == "dense":
        m = next(m for m in range(k, n + 1) if math.comb(m, k) >= nq)
        return list(itertools.islice(itertools.combinations(range(m), k), nq))
    if pattern == "cycle":
        return [tuple((i + j) % n for j in range(k)) for i in range(nq)]
    if pattern == "disjoint":
        return [tuple(range(i * k, i * k + k)) for i in range(nq)]
    if math.comb(n, k) <= 1 << 18:  # random: sample among all k-subsets, else by rejection
        every = list(itertools.combinations(range(n), k))
        return [every[i] for i in rng.choice(len(every), size=nq, replace=False).tolist()]
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < nq:
        seen.setdefault(tuple(sorted(rng.choice(n, size=k, replace=False).tolist())), None)
    return list(seen)


def generate_limit(n_docs: int, k: int = 2, n_queries: int | None = None, attrs_per_doc: int | None = None,
                   pattern: str = "dense", seed: int = 0, attributes: list[str] | None = None) -> TextCollection:
    """A LIMIT-style collection: query ``i`` = "Who likes X_i?", X_i held by exactly its ``k`` relevant people.

    ``pattern``: "dense" (first ``n_queries`` k-subsets of the smallest ``m`` people with C(m, k) >= n_queries),
    "random" (distinct random k-subsets), "cycle" (people i..i+k-1 mod n_docs), "disjoint" (people ik..ik+k-1).
    Default ``n_queries``: n_docs // k for "disjoint", else n_docs.  Documents are padded with non-query
    attributes to ``attrs_per_doc`` (default: max query attributes per document, at least 1).  Document order
    is person order (the relevant people of "dense"/"cycle"/"disjoint" come first).
    """
    if pattern not in ("dense", "random", "cycle", "disjoint"):
        raise ValueError(f"unknown pattern {pattern!r}: dense, random, cycle or disjoint")
    if n_docs < 1 or not 1 <= k <= n_docs:
        raise ValueError(f"need n_docs >= 1 and 1 <= k <= n_docs (n_docs={n_docs}, k={k})")
    nq = (n_docs // k if pattern == "disjoint" else n_docs) if n_queries is None else n_queries
    limit = {"dense": math.comb(n_docs, k), "random": math.comb(n_docs, k), "cycle": n_docs,
             "disjoint": n_docs // k}[pattern]
    if not 0 <= nq <= limit:
        raise ValueError(f"n_queries={nq} impossible for pattern {pattern!r} with n_docs={n_docs}, k={k} (max {limit})")
    rng = np.random.default_rng(seed)
    subsets = _subsets(pattern, n_docs, k, nq, rng)
    counts = np.bincount(np.array(subsets, dtype=np.int64).ravel(), minlength=n_docs) if subsets else np.zeros(n_docs)
    per_doc = max(int(counts.max()), 1) if attrs_per_doc is None else attrs_per_doc
    if per_doc < 1:
        raise ValueError(f"attrs_per_doc must be >= 1, got {per_doc}")
    if attributes is None:
        path = limit_dir() / "attributes.txt"
        attributes = _read_attributes(path) if path.is_file() else [f"attribute {i}" for i in range(nq + per_doc)]
    attributes = list(dict.fromkeys(attributes))
    if len(attributes) < nq:
        raise ValueError(f"{nq} queries need {nq} distinct attributes, only {len(attributes)} given")
    perm = rng.permutation(len(attributes)).tolist()
    query_attrs, pool = [attributes[i] for i in perm[:nq]], [attributes[i] for i in perm[nq:]]
    owned: list[list[str]] = [[] for _ in range(n_docs)]
    for attr, people in zip(query_attrs, subsets, strict=True):
        for p in people:
            owned[p].append(attr)
    names = _names(rng, n_docs, set())
    texts = _docs(rng, names, owned, pool, per_doc)
    query_ids = [f"query_{i}" for i in range(nq)]
    qrels = {q: {names[p]: 1 for p in s} for q, s in zip(query_ids, subsets, strict=True)}
    return TextCollection(f"limit-{pattern}-n{n_docs}-k{k}-q{nq}-s{seed}", names, texts, query_ids,
                          [f"Who likes {a}?" for a in query_attrs], qrels)
