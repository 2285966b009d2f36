"""Parsers for classic text test collections into one :class:`TextCollection`.

Ids are strings (BEIR/MTEB style); texts are plain strings; ``qrels`` maps a query id to
``{doc id: grade}``: grade >= 1 is relevant (higher = more relevant), 0 (or below) judged not
relevant (kept: BEIR and TREC qrels list such pairs, and nDCG/trec_eval count them as judged).
Unjudged queries are kept in ``query_ids`` but have no ``qrels`` entry.

``read_smart(docs, queries, qrels, layout)``
    Any SMART-format collection (``.I`` records, any field markers, chosen text fields, qrels
    in the TREC, CISI/CACM, graded or Cranfield layout); see :class:`SmartLayout`.
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

import gzip
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["CorpusError", "SmartLayout", "TextCollection", "read_cisi", "read_cranfield", "read_smart",
           "read_wordnet"]


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
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: grade}; >= 1 relevant, 0 judged not relevant

    def __post_init__(self) -> None:
        if len(self.doc_ids) != len(self.doc_texts) or len(self.query_ids) != len(self.query_texts):
            raise ValueError(f"{self.name}: ids and texts differ in length")


# --------------------------------------------------------------------------- helpers


def _file(folder: str | Path, name: str) -> Path:
    path = Path(folder) / name
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    return path


def text_lines(path: Path, error: type[ValueError] = CorpusError) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end-of-line) of a utf-8 text file, gzip if it ends in
    ``.gz``; a missing, undecodable or damaged file raises ``error`` naming it."""
    if not path.is_file():
        raise error(f"{path}: file not found")
    try:
        with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")) as f:
            for lineno, line in enumerate(f, 1):
                yield lineno, line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not utf-8 text ({exc})") from None
    except (OSError, EOFError) as exc:  # a damaged gzip stream
        raise error(f"{path}: cannot read ({exc})") from None


def add_judgement(path: Path, lineno: int, qrels: dict[str, dict[str, int]], qid: str, did: str, grade: int,
                  error: type[ValueError] = CorpusError) -> None:
    """Record ``qid``'s grade of ``did``; a second, different grade for the pair raises ``error``."""
    judged = qrels.setdefault(qid, {})
    if judged.get(did, grade) != grade:
        raise error(f"{path}:{lineno}: conflicting judgement for query {qid!r}, document {did!r} "
                    f"({judged[did]} and {grade})")
    judged[did] = grade


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


def _smart_records(path: Path, allowed: str | None, after_text_is_text: bool = False) -> list[_Record]:
    """Records of a SMART-format file: ``.I id`` then field markers (``.T``, ``.W``...) on their own line.

    Ids must be numeric and are normalised to ``str(int(id))`` (``.I 001`` is ``"1"``, as qrels write it).
    Only a line that is exactly ``.<capital>`` (optionally followed by blanks) is a marker; other lines
    are content of the current field; ``allowed`` lists the accepted marker letters (None: any).
    A repeated marker appends to its field.  With
    ``after_text_is_text`` any marker other than ``.I`` that follows ``.W`` in the same record is
    treated as continuing ``.W`` (the marker line itself carries no text): this repairs the three
    corrupt Cranfield records 240, 576, 578, whose abstracts contain stray ``.A``/``.B``/``.W`` lines,
    without losing any words.
    """
    records: list[_Record] = []
    seen: dict[str, int] = {}
    current: _Record | None = None
    field: str | None = None
    for lineno, line in text_lines(path):
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
            if allowed is not None and letter not in allowed:
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


def _require_text(path: Path, rec: _Record, what: str, field: str = "W") -> None:
    if field not in rec.fields:
        raise CorpusError(f"{path}:{rec.lineno}: {what} {rec.id} has no '.{field}' field")


def _ints(path: Path, lineno: int, parts: list[str], n: int, line: str,
          error: type[ValueError] = CorpusError) -> list[int]:
    try:
        return [int(p) for p in parts[:n]]
    except ValueError:
        raise error(f"{path}:{lineno}: expected {n} integers, got {line!r}") from None


# --------------------------------------------------------------------------- any SMART collection

QrelsLayout = Literal["auto", "trec", "pairs", "graded", "cranfield"]
QRELS_LAYOUTS: dict[str, str] = {  # layout -> the line it reads (the file's columns)
    "trec": "query iter doc grade",  # TREC qrels; also MED.REL
    "pairs": "query doc x x",  # every line one relevant pair, grade 1: CISI.REL, CACM qrels.text
    "graded": "query doc grade",
    "cranfield": "query doc code",  # cranqrel: grade = 5 - code, see CRANFIELD_GRADES
}

# cranqrel relevance codes (Cleverdon, see cranqrel.readme): 1 = complete answer, 2 = high
# relevance, 3 = useful background, 4 = minimum interest, 5 = no interest (never present);
# -1 also occurs, exactly once per query, undefined by the readme (ir_datasets reads it as
# "no interest").  Graded relevance, higher = more relevant: grade = 5 - code for codes 1..4,
# i.e. 1 -> 4, 2 -> 3, 3 -> 2, 4 -> 1.  Codes -1 and 5 are not relevance: those pairs are dropped.
CRANFIELD_GRADES = {1: 4, 2: 3, 3: 2, 4: 1}
CRANFIELD_DROPPED_CODES = frozenset({-1, 5})


def parse_fields(spec: str | Sequence[str]) -> tuple[str, ...]:
    """Field letters from ``".T,.W"``, ``"T,W"``, ``"TW"`` or ``[".T", ".W"]`` → ``("T", "W")``."""
    items = spec.replace(",", " ").split() if isinstance(spec, str) else list(spec)
    letters = tuple(c for item in items for c in item.strip().lstrip(".").upper())
    if not letters or not all("A" <= c <= "Z" and c != "I" for c in letters):
        raise ValueError(f"fields {spec!r}: expected SMART field letters such as '.T,.W' (not .I)")
    return letters


@dataclass(frozen=True)
class SmartLayout:
    """How a SMART-format collection is read; the defaults suit most collections.

    * ``fields``: the fields whose lines make a document's text, in this order (default title and
      abstract, ``.T`` + ``.W``); ``query_fields`` the same for queries (default: ``fields``).
      A document with none of them (no abstract, no title) is kept with its other fields' text
      missing, possibly ``""``; a query needs at least one.
    * ``markers``: the marker letters accepted (None: any ``.<capital>``, e.g. ``.N .X .K .C``);
      ``require``: a field every document and query must have (None: none).
    * ``query_ids``: ``"id"`` (the ``.I`` number) or ``"position"`` (1, 2, ... in file order: Cranfield's
      qrels number its queries so).  Numeric ids are normalised to ``str(int(id))`` everywhere, records
      and qrels alike, so ``.I 001`` matches a qrels ``1``.
    * ``qrels``: one of :data:`QRELS_LAYOUTS`, or ``"auto"``, which reads every line: 4 columns whose
      second is ``0`` on every line → trec, on no line → pairs; a mix, or 3 columns (Cranfield's codes
      rank 1 highest), is ambiguous and refused.
    * ``text_runs_to_end``: every marker after ``.W`` continues ``.W`` (repairs Cranfield's corrupt records).
    """

    fields: tuple[str, ...] = ("T", "W")
    query_fields: tuple[str, ...] | None = None
    markers: str | None = None
    query_markers: str | None = None
    require: str | None = None
    query_ids: Literal["id", "position"] = "id"
    qrels: QrelsLayout = "auto"
    text_runs_to_end: bool = False

    def __post_init__(self) -> None:
        if self.query_ids not in ("id", "position"):
            raise ValueError(f"query ids {self.query_ids!r}: expected 'id' or 'position'")


def normal_query_id(ident: str) -> str:
    """Query 51 is written ``051`` by some topic files and ``51`` by their qrels: numeric ids as ``str(int)``."""
    return str(int(ident)) if ident.isdigit() else ident


def read_smart(docs: str | Path, queries: str | Path, qrels: str | Path, layout: SmartLayout = SmartLayout(),
               name: str = "smart") -> TextCollection:
    """A SMART-format collection (documents, queries, qrels files) read as ``layout`` says."""
    docs_path, qry_path, rel_path = (Path(p) for p in (docs, queries, qrels))
    for path in (docs_path, qry_path, rel_path):
        if not path.is_file():
            raise CorpusError(f"{path}: file not found")
    query_fields = layout.query_fields or layout.fields

    def texts(path: Path, records: list[_Record], fields: tuple[str, ...], what: str) -> list[str]:
        out = []
        for rec in records:
            if layout.require is not None:
                _require_text(path, rec, what, layout.require)
            if what == "query" and not any(f in rec.fields for f in fields):
                names = " or ".join(f"'.{f}'" for f in fields)
                raise CorpusError(f"{path}:{rec.lineno}: query {rec.id} has no {names} field")
            out.append(_norm([line for f in fields for line in rec.fields.get(f, [])]))
        return out

    doc_records = _smart_records(docs_path, layout.markers, after_text_is_text=layout.text_runs_to_end)
    query_records = _smart_records(qry_path, layout.query_markers)
    doc_ids = [rec.id for rec in doc_records]
    doc_texts = texts(docs_path, doc_records, layout.fields, "document")
    query_texts = texts(qry_path, query_records, query_fields, "query")
    query_ids = ([str(i) for i in range(1, len(query_records) + 1)] if layout.query_ids == "position"
                 else [rec.id for rec in query_records])
    judged = _read_qrels(rel_path, layout.qrels, set(doc_ids), query_ids, layout.query_ids)
    return TextCollection(name, doc_ids, doc_texts, query_ids, query_texts, judged)


def _qrels_layout(path: Path, layout: str) -> str:
    if layout != "auto":
        if layout not in QRELS_LAYOUTS:
            raise CorpusError(f"{path}: unknown qrels layout {layout!r} (known: auto, {', '.join(QRELS_LAYOUTS)})")
        return layout
    # Every line votes (qrels files are small): 4 columns whose second is 0 on every line → trec; 4 columns
    # whose second is never 0 → pairs; anything else (3 columns, a mix) is ambiguous and refused.
    name_it = f"name it ({'; '.join(f'{k}: {v}' for k, v in QRELS_LAYOUTS.items())})"
    seen: dict[str, int] = {}  # layout → its first line
    for lineno, line in text_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            if seen:
                continue  # a malformed line after 4-column ones: the reader names it
            raise CorpusError(f"{path}:{lineno}: cannot tell the qrels layout from {len(parts)} columns ({line!r}): "
                              f"{name_it}")
        seen.setdefault("trec" if parts[1] == "0" else "pairs", lineno)
        if len(seen) > 1:
            raise CorpusError(f"{path}:{lineno}: ambiguous qrels layout: the second column is 0 on line "
                              f"{seen['trec']} (trec: query 0 doc grade) but not on line {seen['pairs']} (pairs: "
                              f"query doc x x): {name_it}")
    return next(iter(seen), "pairs")  # an empty file: no judgements in any layout


def qrels_lines(path: Path, layout: str, error: type[ValueError] = CorpusError,
                numeric: bool = True) -> Iterator[tuple[int, str, str, int | None]]:
    """(line number, query id, doc id, grade or code; None for ``pairs``) of each judgement of a qrels file
    in ``layout`` (one of :data:`QRELS_LAYOUTS`).  ``numeric`` (SMART): ids must be integers, normalised to
    ``str(int(id))``; else (TREC) query ids of digits only are normalised so, doc ids kept as written."""
    columns = QRELS_LAYOUTS[layout].split()
    # The columns read, in the order (query, doc[, grade or code]); "x" and "iter" columns are not read.
    read = [columns.index(c) for c in ("query", "doc", "grade", "code") if c in columns]
    for lineno, line in text_lines(path, error):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(columns):
            raise error(f"{path}:{lineno}: expected '{QRELS_LAYOUTS[layout]}' ({layout} qrels), got {line!r}")
        if numeric:
            values = _ints(path, lineno, [parts[i] for i in read], len(read), line, error)
            yield lineno, str(values[0]), str(values[1]), values[2] if len(values) > 2 else None
            continue
        q, d, value = parts[read[0]], parts[read[1]], None
        if len(read) > 2:
            try:
                value = int(parts[read[2]])
            except ValueError:
                raise error(f"{path}:{lineno}: {columns[read[2]]} {parts[read[2]]!r} is not an integer") from None
        yield lineno, normal_query_id(q), d, value


def _read_qrels(path: Path, layout: str, known_docs: set[str], query_ids: list[str],
                numbering: str) -> dict[str, dict[str, int]]:
    layout = _qrels_layout(path, layout)
    known_queries = set(query_ids)
    qrels: dict[str, dict[str, int]] = {}
    for lineno, q, d, value in qrels_lines(path, layout):
        if q not in known_queries:
            count = f" ({path.name} numbers queries 1..{len(query_ids)})" if numbering == "position" else ""
            raise CorpusError(f"{path}:{lineno}: unknown query {q}{count}")
        if d not in known_docs:
            raise CorpusError(f"{path}:{lineno}: unknown document {d}")
        if value is None:  # pairs: every line one relevant pair
            grade = 1
        elif layout == "cranfield":
            if value in CRANFIELD_DROPPED_CODES:
                continue
            if value not in CRANFIELD_GRADES:
                raise CorpusError(f"{path}:{lineno}: relevance code {value} not in 1..5 or -1")
            grade = CRANFIELD_GRADES[value]
        else:
            grade = value
        add_judgement(path, lineno, qrels, q, d, grade)
    return qrels


# --------------------------------------------------------------------------- Cranfield

CRANFIELD_LAYOUT = SmartLayout(fields=("W",), markers="TABW", query_markers="W", query_ids="position",
                               qrels="cranfield", text_runs_to_end=True)


def read_cranfield(folder: str | Path) -> TextCollection:
    """The Cranfield collection (1,400 docs, 225 queries) from ``cran.all.1400``, ``cran.qry``, ``cranqrel``,
    read by :func:`read_smart` with :data:`CRANFIELD_LAYOUT`.

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
    files = (_file(folder, n) for n in ("cran.all.1400", "cran.qry", "cranqrel"))
    return read_smart(*files, CRANFIELD_LAYOUT, name="cranfield")


# --------------------------------------------------------------------------- CISI

CISI_LAYOUT = SmartLayout(fields=("T", "W"), markers="TAWBKCX", query_markers="TAWB", require="W", qrels="pairs")


def read_cisi(folder: str | Path) -> TextCollection:
    """The CISI collection (1,460 docs, 112 queries) from ``CISI.ALL``, ``CISI.QRY``, ``CISI.REL``,
    read by :func:`read_smart` with :data:`CISI_LAYOUT`.

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
    files = (_file(folder, n) for n in ("CISI.ALL", "CISI.QRY", "CISI.REL"))
    return read_smart(*files, CISI_LAYOUT, name="cisi")


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
