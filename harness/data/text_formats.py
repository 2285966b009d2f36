"""Text collections in the field's exchange formats, read into a :class:`~harness.data.corpora.TextCollection`.

``read_beir(folder, split)``
    A BEIR folder: ``corpus.jsonl`` (``{"_id", "title", "text"}`` per line; the text of a
    document is ``(title + " " + text).strip()``, as BEIR's dense models join them),
    ``queries.jsonl`` (``{"_id", "text"}``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``,
    ``score``, tab-separated, after a header line).  As BEIR's ``GenericDataLoader`` does, only the
    queries judged in the split are kept, in ``queries.jsonl`` order; pairs with score 0 are kept as
    judged non-relevant.  Ids are strings, compared as written.  ``.jsonl.gz`` files are read too.
``read_trec(topics, qrels, docs, query_fields)``
    TREC topics (``<top> <num> Number: 401 <title> ... <desc> Description: ... <narr> Narrative: ...
    </top>``; the query text is the chosen fields joined, default the title), or a ``qid<TAB>text``
    ``.tsv`` / BEIR ``queries.jsonl`` file; TREC qrels (``qid iter docid rel``, whitespace-separated);
    documents as a BEIR ``corpus.jsonl`` or a ``docid<TAB>text`` ``.tsv`` (MS MARCO ``collection.tsv``;
    the text is everything after the first tab).  Query ids that are all digits are normalised to
    ``str(int(id))`` in the topics and the qrels alike (TREC 1-3 topics say ``Number: 051``, their qrels
    ``51``); document ids are compared as written.  Only the judged topics are kept.
``read_smart_files(docs, queries, qrels, fields, ...)``
    :func:`harness.data.corpora.read_smart` (any SMART collection), its errors as :class:`DatasetError`.

Every problem raises :class:`~harness.data.dataset.DatasetError` naming the file (and line); qrels
naming unknown ids are refused with how many and the first few.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from harness.data.corpora import (
    CorpusError,
    SmartLayout,
    TextCollection,
    add_judgement,
    normal_query_id,
    parse_fields,
    qrels_lines,
    read_smart,
    text_lines,
)
from harness.data.dataset import DatasetError

SHOWN_UNKNOWN = 5  # unknown ids quoted in an error


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    return text_lines(path, DatasetError)


def _jsonl_records(path: Path, fields: Sequence[str], optional: Sequence[str] = ()) -> Iterator[dict[str, str]]:
    """One ``{field: str}`` per non-blank line of a JSON-lines file, in order; ``_id`` values must be unique."""
    seen: dict[str, int] = {}
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{path}:{lineno}: not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        missing = [f for f in fields if f not in obj or obj[f] is None]
        if missing:
            raise DatasetError(f"{path}:{lineno}: missing field(s) {', '.join(map(repr, missing))}")
        row = {f: obj[f] for f in (*fields, *optional) if obj.get(f) is not None}
        bad = [f for f, v in row.items() if not isinstance(v, str | int) or isinstance(v, bool)]
        if bad:
            raise DatasetError(f"{path}:{lineno}: field {bad[0]!r} must be a string, got {type(row[bad[0]]).__name__}")
        row = {f: str(v) for f, v in row.items()}
        if "_id" in row:
            if row["_id"] in seen:
                raise DatasetError(f"{path}:{lineno}: duplicate _id {row['_id']!r} (first on line {seen[row['_id']]})")
            seen[row["_id"]] = lineno
        yield row


def read_jsonl(path: Path, fields: Sequence[str], optional: Sequence[str] = ()) -> list[dict[str, str]]:
    """Every record of :func:`_jsonl_records`; at least one."""
    rows = list(_jsonl_records(path, fields, optional))
    if not rows:
        raise DatasetError(f"{path}: no records")
    return rows


def _first(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    raise DatasetError(f"{folder / (stem + '.jsonl')}: file not found (a BEIR folder holds corpus.jsonl, "
                       "queries.jsonl and qrels/<split>.tsv)")


def read_beir_corpus(path: Path) -> tuple[list[str], list[str]]:
    """(ids, texts) of a BEIR ``corpus.jsonl``: text = ``(title + " " + text).strip()``."""
    ids, texts = [], []  # built as the lines are parsed: no record is kept beyond its line
    for r in _jsonl_records(path, ("_id", "text"), ("title",)):
        ids.append(r["_id"])
        texts.append((r.get("title", "") + " " + r["text"]).strip())
    if not ids:
        raise DatasetError(f"{path}: no records")
    return ids, texts


def _tsv_texts(path: Path) -> tuple[list[str], list[str]]:
    """(ids, texts) of an ``id<TAB>text`` file (the text is everything after the first tab)."""
    ids, texts, seen = [], [], {}
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        ident, tab, text = line.partition("\t")
        if not tab or not ident.strip():
            raise DatasetError(f"{path}:{lineno}: expected 'id<TAB>text', got {line[:60]!r}")
        ident = ident.strip()
        if ident in seen:
            raise DatasetError(f"{path}:{lineno}: duplicate id {ident!r} (first on line {seen[ident]})")
        seen[ident] = lineno
        ids.append(ident)
        texts.append(text.strip())
    if not ids:
        raise DatasetError(f"{path}: no records")
    return ids, texts


def _texts(path: Path) -> tuple[list[str], list[str]]:
    """Documents or queries from a ``.tsv`` (id<TAB>text) or BEIR ``.jsonl`` file."""
    suffixes = "".join(path.suffixes[-2:])
    if path.suffix == ".tsv" or suffixes == ".tsv.gz":
        return _tsv_texts(path)
    if path.suffix == ".jsonl" or suffixes == ".jsonl.gz":
        return read_beir_corpus(path)
    raise DatasetError(f"{path}: expected a .tsv (id<TAB>text) or .jsonl (BEIR) file")


def _check_known(path: Path, qrels: dict[str, dict[str, int]], query_ids: set[str], doc_ids: set[str]) -> None:
    """Refuse qrels naming queries or documents the collection lacks: how many, and the first few."""
    for what, unknown in (("query", sorted({q for q in qrels if q not in query_ids})),
                          ("document", sorted({d for docs in qrels.values() for d in docs if d not in doc_ids}))):
        if unknown:
            shown = ", ".join(map(repr, unknown[:SHOWN_UNKNOWN])) + (", ..." if len(unknown) > SHOWN_UNKNOWN else "")
            raise DatasetError(f"{path}: {len(unknown)} {what} id(s) not in the {what} file(s): {shown}")


def _add(path: Path, lineno: int, qrels: dict[str, dict[str, int]], qid: str, did: str, grade: int) -> None:
    add_judgement(path, lineno, qrels, qid, did, grade, DatasetError)


def _judged_collection(name: str, doc_ids: list[str], doc_texts: list[str], query_ids: list[str],
                       query_texts: list[str], qrels: dict[str, dict[str, int]], qrels_path: Path) -> TextCollection:
    """The collection restricted to its judged queries (file order), after the id checks."""
    _check_known(qrels_path, qrels, set(query_ids), set(doc_ids))
    if not qrels:
        raise DatasetError(f"{qrels_path}: no judgements")
    kept = [i for i, q in enumerate(query_ids) if q in qrels]
    return TextCollection(name, doc_ids, doc_texts, [query_ids[i] for i in kept], [query_texts[i] for i in kept],
                          qrels)


# --------------------------------------------------------------------------- BEIR


def beir_splits(folder: Path) -> list[str]:
    return sorted(p.name[: -len(".tsv")] for p in (folder / "qrels").glob("*.tsv"))


def read_beir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id<TAB>corpus-id<TAB>score`` lines; a first line whose score is not an integer is the header."""
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise DatasetError(f"{path}:{lineno}: expected 'query-id<TAB>corpus-id<TAB>score', got {line!r}")
        try:
            grade = int(parts[2])
        except ValueError:
            if lineno == 1:  # BEIR's header query-id, corpus-id, score
                continue
            raise DatasetError(f"{path}:{lineno}: score {parts[2]!r} is not an integer") from None
        _add(path, lineno, qrels, parts[0].strip(), parts[1].strip(), grade)
    return qrels


def read_beir(folder: str | Path, split: str = "test", name: str | None = None) -> TextCollection:
    """A BEIR folder (see the module docstring); ``split`` names ``qrels/<split>.tsv``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder (a BEIR folder holds corpus.jsonl, queries.jsonl, qrels/)")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = beir_splits(folder)
        raise DatasetError(f"{qrels_path}: no split {split!r} (splits found: {', '.join(found) or 'none'})")
    doc_ids, doc_texts = read_beir_corpus(_first(folder, "corpus"))
    queries = read_jsonl(_first(folder, "queries"), ("_id", "text"))
    qrels = read_beir_qrels(qrels_path)
    return _judged_collection(name or folder.name, doc_ids, doc_texts, [q["_id"] for q in queries],
                              [q["text"].strip() for q in queries], qrels, qrels_path)


# --------------------------------------------------------------------------- TREC

TREC_FIELDS = ("num", "title", "desc", "narr")
_TAG = re.compile(r"<(/?)(\w+)>")
_PREFIX = re.compile(r"^\s*(Number|Topic|Description|Narrative|Title)\s*:", re.IGNORECASE)


def read_trec_topics(path: Path, query_fields: Sequence[str] = ("title",)) -> tuple[list[str], list[str]]:
    """(ids, texts) of a TREC topics file: each ``<top>`` block's ``<num>`` and the chosen fields, joined
    by a space in the order given, each without its ``Description:``-style label; whitespace collapsed."""
    text = "\n".join(line for _, line in _lines(path))
    ids: list[str] = []
    texts: list[str] = []
    lineno, counted_to = 1, 0
    for block in re.finditer(r"<top>(.*?)</top>", text, re.DOTALL):
        fields: dict[str, str] = {}
        pieces = _TAG.split(block.group(1))  # [before, slash, tag, content, slash, tag, content, ...]
        for i in range(1, len(pieces) - 2, 3):
            if not pieces[i]:  # an opening tag; closing tags (</title>) end nothing that matters here
                fields[pieces[i + 1].lower()] = fields.get(pieces[i + 1].lower(), "") + pieces[i + 2]
        lineno += text.count("\n", counted_to, block.start())  # counted from the last block on: linear
        counted_to = block.start()
        num = " ".join(_PREFIX.sub("", fields.get("num", "")).split())
        if not num:
            raise DatasetError(f"{path}:{lineno}: topic without a <num>")
        missing = [f for f in query_fields if f not in fields]
        if missing:
            raise DatasetError(f"{path}:{lineno}: topic {num} has no <{missing[0]}> (fields: {', '.join(fields)})")
        ids.append(normal_query_id(num))
        texts.append(" ".join(" ".join(_PREFIX.sub("", fields[f]) for f in query_fields).split()))
    if not ids:
        raise DatasetError(f"{path}: no <top> ... </top> topics")
    dup = {q for q, n in Counter(ids).items() if n > 1}
    if dup:
        raise DatasetError(f"{path}: topic number(s) {', '.join(sorted(dup))} appear more than once")
    return ids, texts


def read_trec_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``qid iter docid rel`` lines (whitespace-separated; :func:`harness.data.corpora.qrels_lines`, the
    SMART reader's too); query ids normalised like the topics', doc ids as written."""
    qrels: dict[str, dict[str, int]] = {}
    for lineno, qid, did, grade in qrels_lines(path, "trec", DatasetError, numeric=False):
        _add(path, lineno, qrels, qid, did, grade if grade is not None else 0)  # trec lines always carry one
    return qrels


def read_trec(topics: str | Path, qrels: str | Path, docs: str | Path, query_fields: str | Sequence[str] = "title",
              name: str | None = None) -> TextCollection:
    """TREC topics + qrels + a documents file (see the module docstring)."""
    topics, qrels, docs = Path(topics), Path(qrels), Path(docs)
    fields = tuple(f.strip().lstrip("<").rstrip(">").lower() for f in
                   (query_fields.split(",") if isinstance(query_fields, str) else query_fields) if f.strip())
    if not fields:
        raise DatasetError(f"{topics}: no query fields chosen (e.g. title, or title,desc)")
    if {".tsv", ".jsonl"} & set(topics.suffixes[-2:]):  # queries as id<TAB>text or BEIR jsonl
        query_ids, query_texts = _texts(topics)
        query_ids = [normal_query_id(q) for q in query_ids]
    else:
        query_ids, query_texts = read_trec_topics(topics, fields)
    doc_ids, doc_texts = _texts(docs)
    return _judged_collection(name or docs.name.split(".")[0], doc_ids, doc_texts, query_ids, query_texts,
                              read_trec_qrels(qrels), qrels)


# --------------------------------------------------------------------------- SMART


def read_smart_files(docs: str | Path, queries: str | Path, qrels: str | Path, fields: str | Sequence[str] = "T,W",
                     query_fields: str | Sequence[str] | None = None, qrels_layout: str = "auto",
                     query_ids: str = "id", name: str | None = None) -> TextCollection:
    """:func:`harness.data.corpora.read_smart` with fields as ``".T,.W"``; its errors as DatasetError."""
    try:
        layout = SmartLayout(fields=parse_fields(fields),
                             query_fields=parse_fields(query_fields) if query_fields else None,
                             qrels=qrels_layout, query_ids=query_ids)  # type: ignore[arg-type]
        return read_smart(docs, queries, qrels, layout, name=name or Path(docs).name.split(".")[0])
    except CorpusError as exc:
        raise DatasetError(str(exc)) from None
    except ValueError as exc:
        raise DatasetError(f"{docs}: {exc}") from None
