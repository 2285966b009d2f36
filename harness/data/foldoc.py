"""FOLDOC as documents and Linux man-page summaries as queries: a collection of long documents
whose queries are not drawn from them.

* Documents: the Free On-line Dictionary of Computing in dictd format (Debian ``dict-foldoc``:
  ``/usr/share/dictd/foldoc.index`` + ``foldoc.dict.dz``), one document per entry: its headword and
  body, cross-reference braces removed, whitespace collapsed; dictd's own ``00-database-*``
  entries are left out.  ~15,000 entries, many of several hundred words.
* Queries: the one-line summaries of the NAME sections of the man pages in a folder (Debian
  ``manpages-dev``: sections 2 and 3, the system calls and C library), e.g. ``_exit.2.gz`` →
  "terminate the calling process"; duplicates dropped, sorted by page name.

There are no relevance judgements: the collection measures kNN recall on a document and query
distribution unlike the others.  FOLDOC is © Denis Howe, GFDL 1.1+ (Debian package copyright);
the man pages are under various free licences (Debian ``manpages-dev``).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from harness.data.corpora import CorpusError, TextCollection

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NAME = re.compile(r"^\.SH\s+\"?NAME\"?\s*$", re.IGNORECASE)


def _b64(text: str, path: Path, lineno: int) -> int:
    value = 0
    for ch in text:
        digit = B64.find(ch)
        if digit < 0:
            raise CorpusError(f"{path}:{lineno}: {text!r} is not a dictd base64 number")
        value = value * 64 + digit
    return value


def read_foldoc(folder: str | Path) -> tuple[list[str], list[str]]:
    """(ids, texts) of the FOLDOC entries of a dictd folder (``foldoc.index``, ``foldoc.dict.dz``)."""
    folder = Path(folder)
    index, data = folder / "foldoc.index", folder / "foldoc.dict.dz"
    for path in (index, data):
        if not path.is_file():
            raise CorpusError(f"{path}: file not found")
    try:
        raw = gzip.open(data).read()
    except (OSError, EOFError) as exc:
        raise CorpusError(f"{data}: not a readable dictzip file ({exc})") from exc
    ids, texts, seen = [], [], set()
    for lineno, line in enumerate(index.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 3:
            raise CorpusError(f"{index}:{lineno}: expected 'headword<TAB>offset<TAB>length'")
        word, start, length = parts[0], _b64(parts[1], index, lineno), _b64(parts[2], index, lineno)
        if word.startswith("00-database") or (start, length) in seen:
            continue
        if start + length > len(raw):
            raise CorpusError(f"{index}:{lineno}: entry {word!r} ends at byte {start + length}, after the data")
        seen.add((start, length))
        body = raw[start:start + length].decode("utf-8", errors="replace")
        text = " ".join(body.replace("{", "").replace("}", "").split())
        if text:
            ids.append(f"foldoc-{len(ids)}")
            texts.append(text)
    if not ids:
        raise CorpusError(f"{index}: no entries")
    return ids, texts


def man_summary(path: Path) -> str | None:
    """The NAME line's summary of a (gzipped) man page ("_exit, _Exit \\- terminate ..." → "terminate ...")."""
    try:
        lines = gzip.open(path, "rt", encoding="utf-8", errors="replace").read().splitlines()
    except (OSError, EOFError) as exc:
        raise CorpusError(f"{path}: not a readable gzip file ({exc})") from exc
    for i, line in enumerate(lines):
        if _NAME.match(line):
            section = []
            for x in lines[i + 1:]:
                if x.startswith(".SH") or x.startswith(".SS"):
                    break
                if not x.startswith("."):
                    section.append(x)
            name = " ".join(section).split(" \\- ", 1)
            return " ".join(name[1].replace("\\", "").split()) if len(name) == 2 else None
    return None


def read_man_summaries(folders: list[Path]) -> tuple[list[str], list[str]]:
    """(ids, texts) of the distinct man-page summaries under ``folders`` (``*.gz``, sorted by name)."""
    ids, texts, seen = [], [], set()
    for folder in folders:
        if not folder.is_dir():
            raise CorpusError(f"{folder}: folder not found")
        for path in sorted(folder.glob("*.gz")):
            summary = man_summary(path)
            if summary and summary.lower() not in seen:
                seen.add(summary.lower())
                ids.append(path.name.removesuffix(".gz"))
                texts.append(summary)
    if not ids:
        raise CorpusError(f"{', '.join(map(str, folders))}: no man page with a NAME summary")
    return ids, texts


def read_foldoc_man(foldoc_dir: str | Path, man_dir: str | Path, sections: tuple[str, ...] = ("man2", "man3"),
                    ) -> TextCollection:
    doc_ids, doc_texts = read_foldoc(foldoc_dir)
    query_ids, query_texts = read_man_summaries([Path(man_dir) / s for s in sections])
    return TextCollection("foldoc-man", doc_ids, doc_texts, query_ids, query_texts, {})
