"""Parsers for classic text test collections into one :class:`TextCollection`.

Ids are strings (BEIR/MTEB style); texts are plain strings; ``qrels`` maps a query id to
``{doc id: grade}`` with grade >= 1 (higher = more relevant).  Unjudged queries are kept in
``query_ids`` but have no ``qrels`` entry.

``read_cranfield(folder)``
    ``cran.all.1400``, ``cran.qry``, ``cranqrel`` (SMART format, Glasgow IR group copy).
``read_cisi(folder)``
    ``CISI.ALL``, ``CISI.QRY``, ``CISI.REL``.
``read_wordnet(wordnet_dir)``
    WordNet 3.0 ``data.{noun,verb,adj,adv}`` (Debian ``wordnet-base``); reproduces the texts
    of ``wordnet-splade-tiny/{docs,queries}.jsonl.gz`` exactly.

Malformed input raises :class:`CorpusError` (a ``ValueError``) whose message starts with
``<file>:<line>:``; a missing file raises it too (``<file>: file not found``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CorpusError", "TextCollection", "read_cisi", "read_cranfield", "read_wordnet"]


class CorpusError(ValueError):
    """A collection file is missing or malformed; the message names the file (and line)."""


@dataclass(frozen=True)
class TextCollection:
    """Documents, queries and graded relevance judgements of one test collection."""

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: relevance grade >= 1}

    def __post_init__(self) -> None:
        if len(self.doc_ids) != len(self.doc_texts) or len(self.query_ids) != len(self.query_texts):
            raise ValueError(f"{self.name}: ids and texts differ in length")


# --------------------------------------------------------------------------- helpers


def _file(folder: str | Path, name: str) -> Path:
    path = Path(folder) / name
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end-of-line) of a text file."""
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                yield lineno, line.rstrip("\r\n")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not utf-8 text ({e})") from None


def _norm(lines: list[str]) -> str:
    """Lines joined with single spaces, runs of whitespace collapsed, ends stripped."""
    return " ".join(" ".join(lines).split())


_MARKER = re.compile(r"\.([A-Z])\s*")  # ".W", ".T " (CISI has trailing blanks)
_RECORD = re.compile(r"\.I(?:\s+(.*?))?\s*")  # ".I 12" (anything else after ".I " is an error)


@dataclass
class _Record:
    id: str
    lineno: int
    fields: dict[str, list[str]]


def _smart_records(path: Path, allowed: str, after_text_is_text: bool = False) -> list[_Record]:
    """Records of a SMART-format file: ``.I id`` then field markers (``.T``, ``.W``...) on their own line.

    Only a line that is exactly ``.<capital>`` (optionally followed by blanks) is a marker; other lines
    are content of the current field.  A repeated marker appends to its field.  With
    ``after_text_is_text`` any marker other than ``.I`` that follows ``.W`` in the same record is
    treated as continuing ``.W`` (the marker line itself carries no text): this repairs the three
    corrupt Cranfield records 240, 576, 578, whose abstracts contain stray ``.A``/``.B``/``.W`` lines,
    without losing any words.
    """
    records: list[_Record] = []
    seen: dict[str, int] = {}
    current: _Record | None = None
    field: str | None = None
    for lineno, line in _lines(path):
        m = _RECORD.fullmatch(line)
        if m:
            arg = m.group(1)
            if not arg or not arg.isdigit():
                raise CorpusError(f"{path}:{lineno}: '.I' needs a numeric id, got {line!r}")
            ident = str(int(arg))
            if ident in seen:
                raise CorpusError(f"{path}:{lineno}: duplicate id {ident} (first on line {seen[ident]})")
            seen[ident] = lineno
            current = _Record(ident, lineno, {})
            records.append(current)
            field = None
            continue
        m = _MARKER.fullmatch(line)
        if m:
            letter = m.group(1)
            if current is None:
                raise CorpusError(f"{path}:{lineno}: field marker {line.strip()!r} before the first '.I'")
            if letter not in allowed:
                raise CorpusError(f"{path}:{lineno}: unknown field marker '.{letter}' (expected one of "
                                  f"{', '.join('.' + c for c in 'I' + allowed)})")
            if after_text_is_text and "W" in current.fields:
                field = "W"
            else:
                field = letter
                current.fields.setdefault(field, [])
            continue
        if current is None:
            if line.strip():
                raise CorpusError(f"{path}:{lineno}: text before the first '.I' record")
            continue
        if field is None:
            if line.strip():
                raise CorpusError(f"{path}:{lineno}: text outside a field (missing marker after '.I')")
            continue
        current.fields[field].append(line)
    if not records:
        raise CorpusError(f"{path}: no '.I' records")
    return records


def _require_text(path: Path, rec: _Record, what: str) -> None:
    if "W" not in rec.fields:
        raise CorpusError(f"{path}:{rec.lineno}: {what} {rec.id} has no '.W' field")


def _ints(path: Path, lineno: int, parts: list[str], n: int, line: str) -> list[int]:
    try:
        return [int(p) for p in parts[:n]]
    except ValueError:
        raise CorpusError(f"{path}:{lineno}: expected {n} integers, got {line!r}") from None


def _add_qrel(path: Path, lineno: int, qrels: dict[str, dict[str, int]], qid: str, did: str, grade: int) -> None:
    judged = qrels.setdefault(qid, {})
    if did in judged and judged[did] != grade:
        raise CorpusError(f"{path}:{lineno}: conflicting judgement for query {qid}, document {did} "
                          f"({judged[did]} and {grade})")
    judged[did] = grade


# --------------------------------------------------------------------------- Cranfield

# cranqrel relevance codes (Cleverdon, see cranqrel.readme): 1 = complete answer, 2 = high
# relevance, 3 = useful background, 4 = minimum interest, 5 = no interest (never present);
# -1 also occurs, exactly once per query, undefined by the readme (ir_datasets reads it as
# "no interest").  Graded relevance, higher = more relevant: grade = 5 - code for codes 1..4,
# i.e. 1 -> 4, 2 -> 3, 3 -> 2, 4 -> 1.  Codes -1 and 5 are not relevance: those pairs are dropped.
CRANFIELD_GRADES = {1: 4, 2: 3, 3: 2, 4: 1}
CRANFIELD_DROPPED_CODES = frozenset({-1, 5})


def read_cranfield(folder: str | Path) -> TextCollection:
    """The Cranfield collection (1,400 docs, 225 queries) from ``cran.all.1400``, ``cran.qry``, ``cranqrel``.

    * Doc ids: the ``.I`` number (``"1"`` .. ``"1400"``).  Doc text: the ``.W`` abstract with its
      whitespace collapsed to single spaces.  In this collection ``.W`` already begins with the
      title (all 1,398 non-empty records), so the title is not prepended; ``.A`` (authors) and ``.B``
      (bibliography) are not part of the text.  Docs 471 and 995 are empty in the source and are
      kept with text ``""``.  The corrupt records 240, 576, 578 keep every line after ``.W`` as text
      (see :func:`_smart_records`).
    * Query ids: the position in ``cran.qry``, ``"1"`` .. ``"225"`` — NOT the ``.I`` number, which
      skips values (001, 002, 004, 008, ... 365).  ``cranqrel`` numbers queries by this position.
    * Qrels: see ``CRANFIELD_GRADES`` (grade = 5 - code); pairs with code -1 (or 5) are dropped.
    """
    folder = Path(folder)
    docs_path, qry_path, rel_path = (_file(folder, n) for n in ("cran.all.1400", "cran.qry", "cranqrel"))

    doc_ids: list[str] = []
    doc_texts: list[str] = []
    for rec in _smart_records(docs_path, "TABW", after_text_is_text=True):
        doc_ids.append(rec.id)
        doc_texts.append(_norm(rec.fields.get("W", [])))

    query_ids: list[str] = []
    query_texts: list[str] = []
    for position, rec in enumerate(_smart_records(qry_path, "W"), 1):
        _require_text(qry_path, rec, "query")
        query_ids.append(str(position))
        query_texts.append(_norm(rec.fields["W"]))

    known_docs = set(doc_ids)
    n_queries = len(query_ids)
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in _lines(rel_path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise CorpusError(f"{rel_path}:{lineno}: expected 'query doc code', got {line!r}")
        q, d, code = _ints(rel_path, lineno, parts, 3, line)
        if not 1 <= q <= n_queries:
            raise CorpusError(f"{rel_path}:{lineno}: unknown query {q} (cran.qry has {n_queries} queries)")
        if str(d) not in known_docs:
            raise CorpusError(f"{rel_path}:{lineno}: unknown document {d}")
        if code in CRANFIELD_DROPPED_CODES:
            continue
        if code not in CRANFIELD_GRADES:
            raise CorpusError(f"{rel_path}:{lineno}: relevance code {code} not in 1..5 or -1")
        _add_qrel(rel_path, lineno, qrels, str(q), str(d), CRANFIELD_GRADES[code])

    return TextCollection("cranfield", doc_ids, doc_texts, query_ids, query_texts, qrels)


# --------------------------------------------------------------------------- CISI


def read_cisi(folder: str | Path) -> TextCollection:
    """The CISI collection (1,460 docs, 112 queries) from ``CISI.ALL``, ``CISI.QRY``, ``CISI.REL``.

    * Doc ids: the ``.I`` number (``"1"`` .. ``"1460"``).  Doc text: title (``.T``) + ``" "`` +
      abstract (``.W``), whitespace collapsed.  ``.A`` (authors), ``.B`` (year), ``.K`` (keywords),
      ``.C`` (classes) and ``.X`` (citation cross-references) are not part of the text.
    * Query ids: the ``.I`` number (``"1"`` .. ``"112"``).  Query text: ``.W``, preceded by the
      title when the query has one (55 queries are document-like, with ``.T``/``.A``/``.B``);
      ``.A`` and ``.B`` are not used.
    * Qrels: every ``CISI.REL`` line ``query doc 0 0.000000`` is one relevant pair, grade 1.
      Only 76 of the 112 queries are judged: all 112 stay in ``query_ids``, and ``qrels`` has
      entries only for the judged ones.
    """
    folder = Path(folder)
    docs_path, qry_path, rel_path = (_file(folder, n) for n in ("CISI.ALL", "CISI.QRY", "CISI.REL"))

    def text(rec: _Record) -> str:
        return _norm(rec.fields.get("T", []) + rec.fields["W"])

    doc_ids: list[str] = []
    doc_texts: list[str] = []
    for rec in _smart_records(docs_path, "TAWBKCX"):
        _require_text(docs_path, rec, "document")
        doc_ids.append(rec.id)
        doc_texts.append(text(rec))

    query_ids: list[str] = []
    query_texts: list[str] = []
    for rec in _smart_records(qry_path, "TAWB"):
        _require_text(qry_path, rec, "query")
        query_ids.append(rec.id)
        query_texts.append(text(rec))

    known_docs, known_queries = set(doc_ids), set(query_ids)
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in _lines(rel_path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise CorpusError(f"{rel_path}:{lineno}: expected 'query doc 0 0.000000', got {line!r}")
        q, d = _ints(rel_path, lineno, parts, 2, line)
        if str(q) not in known_queries:
            raise CorpusError(f"{rel_path}:{lineno}: unknown query {q}")
        if str(d) not in known_docs:
            raise CorpusError(f"{rel_path}:{lineno}: unknown document {d}")
        _add_qrel(rel_path, lineno, qrels, str(q), str(d), 1)

    return TextCollection("cisi", doc_ids, doc_texts, query_ids, query_texts, qrels)


# --------------------------------------------------------------------------- WordNet

WORDNET_FILES = (("n", "noun"), ("v", "verb"), ("a", "adj"), ("r", "adv"))
_QUOTED = re.compile(r'"([^"]*)"')


def read_wordnet(wordnet_dir: str | Path = "/usr/share/wordnet") -> TextCollection:
    """WordNet 3.0 synsets as documents and their example sentences as queries.

    Reads ``data.noun``, ``data.verb``, ``data.adj``, ``data.adv`` in that order, synsets in file
    order (117,659 with Debian ``wordnet-base`` 1:3.0-37); the result equals
    ``wordnet-splade-tiny/docs.jsonl.gz`` and ``queries.jsonl.gz`` exactly.

    * Doc id: letter of the FILE + 8-digit synset offset, e.g. ``n00001740``; adjective satellites
      (ss_type ``s``) are in ``data.adj`` and get ``a``.
    * Doc text: ``"lemma, lemma: definition"``.  Lemmas in file order, ``_`` replaced by a space,
      otherwise verbatim (adjective markers such as ``galore(ip)`` are kept).  The definition is the
      gloss with every ``"..."`` pair removed, then stripped and trailing ``;``/spaces removed.
      Underscores inside the gloss are kept.
    * Queries: every ``"..."`` pair of the gloss, in order, stripped; id = doc id + ``-k`` (k from 0);
      each is relevant (grade 1) to its own synset only.  About 20 glosses in WordNet 3.0 have
      unbalanced quotes; pairing left to right (as here) is what the shipped files do, so a
      leftover ``"`` stays in the definition and a few queries are odd (e.g. ``";"``).
    * Checked: each synset offset equals its line's byte offset, the pos letter matches the file,
      the lemma count fits the line, and the gloss separator `` | `` is present.
    """
    wordnet_dir = Path(wordnet_dir)
    doc_ids: list[str] = []
    doc_texts: list[str] = []
    query_ids: list[str] = []
    query_texts: list[str] = []
    qrels: dict[str, dict[str, int]] = {}
    for letter, suffix in WORDNET_FILES:
        path = _file(wordnet_dir, f"data.{suffix}")
        allowed_pos = ("a", "s") if letter == "a" else (letter,)
        with open(path, "rb") as f:
            data = f.read()
        offset = 0
        for lineno, raw in enumerate(data.split(b"\n"), 1):
            start, offset = offset, offset + len(raw) + 1
            if not raw or raw.startswith(b"  "):  # licence header lines start with two spaces
                continue
            try:
                line = raw.decode("utf-8").rstrip("\r")
            except UnicodeDecodeError:
                raise CorpusError(f"{path}:{lineno}: not utf-8 text") from None
            head, sep, gloss = line.partition(" | ")
            if not sep:
                raise CorpusError(f"{path}:{lineno}: no ' | ' gloss separator")
            fields = head.split(" ")
            try:
                synset_offset = int(fields[0])
                n_words = int(fields[3], 16)
            except (ValueError, IndexError):
                raise CorpusError(f"{path}:{lineno}: malformed synset header {head[:60]!r}") from None
            if len(fields[0]) != 8 or synset_offset != start:
                raise CorpusError(f"{path}:{lineno}: synset offset {fields[0]} is not the line's byte offset "
                                  f"{start:08d}")
            if fields[2] not in allowed_pos:
                raise CorpusError(f"{path}:{lineno}: pos {fields[2]!r} in data.{suffix}")
            if n_words < 1 or len(fields) < 4 + 2 * n_words:
                raise CorpusError(f"{path}:{lineno}: word count {fields[3]} does not fit the line")
            lemmas = [w.replace("_", " ") for w in fields[4 : 4 + 2 * n_words : 2]]

            sid = letter + fields[0]
            examples = _QUOTED.findall(gloss)
            definition = _QUOTED.sub("", gloss).strip().rstrip("; ").strip()
            doc_ids.append(sid)
            doc_texts.append(", ".join(lemmas) + ": " + definition)
            for k, example in enumerate(examples):
                qid = f"{sid}-{k}"
                query_ids.append(qid)
                query_texts.append(example.strip())
                qrels[qid] = {sid: 1}

    return TextCollection("wordnet", doc_ids, doc_texts, query_ids, query_texts, qrels)
