"""FOLDOC documents and man-page queries (harness/data/foldoc.py), and the sparse workload suite."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from harness import paths
from harness.data.corpora import CorpusError
from harness.data.foldoc import B64, read_foldoc, read_foldoc_man, read_man_summaries
from harness.data.registry import REGISTRY, SPARSE_SUITE


def b64(n: int) -> str:
    digits = ""
    while True:
        digits = B64[n % 64] + digits
        n //= 64
        if n == 0:
            return digits


def write_dictd(folder: Path, entries: dict[str, str]) -> None:
    data, index = b"", []
    for word, body in entries.items():
        text = f"{word}\n\n   {body}\n".encode()
        index.append(f"{word}\t{b64(len(data))}\t{b64(len(text))}")
        data += text
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "foldoc.index").write_text("\n".join(index) + "\n")
    with gzip.open(folder / "foldoc.dict.dz", "wb") as f:
        f.write(data)


def test_dictd_entries_become_documents(tmp_path):
    write_dictd(tmp_path, {"00-database-info": "meta", "cache": "A fast {memory} near the {CPU}.",
                           "UART": "Universal {asynchronous} receiver."})
    ids, texts = read_foldoc(tmp_path)
    assert ids == ["foldoc-0", "foldoc-1"]
    assert texts == ["cache A fast memory near the CPU.", "UART Universal asynchronous receiver."]


def test_a_broken_index_names_the_file_and_line(tmp_path):
    write_dictd(tmp_path, {"cache": "x"})
    (tmp_path / "foldoc.index").write_text("cache\tA!\tB\n")
    with pytest.raises(CorpusError, match=r"foldoc.index:1: 'A!' is not a dictd base64 number"):
        read_foldoc(tmp_path)


def test_man_page_summaries_are_the_queries(tmp_path):
    folder = tmp_path / "man2"
    folder.mkdir()
    pages = {"_exit.2": '.TH _EXIT 2\n.SH NAME\n_exit, _Exit \\- terminate the calling process\n.SH LIBRARY\nlibc\n',
             "fork.2": ".TH FORK 2\n.SH NAME\nfork \\- create a child process\n.SH SYNOPSIS\n",
             "dup.2": ".SH NAME\ndup \\- terminate the calling process\n"}  # a duplicate summary: dropped
    for name, text in pages.items():
        with gzip.open(folder / f"{name}.gz", "wt") as f:
            f.write(text)
    ids, texts = read_man_summaries([folder])
    assert ids == ["_exit.2", "fork.2"] and texts == ["terminate the calling process", "create a child process"]


def test_the_real_collection_when_debian_has_it():
    if not (paths.foldoc_dir() / "foldoc.index").is_file() or not (paths.man_dir() / "man2").is_dir():
        pytest.skip("apt-get install dict-foldoc manpages-dev")
    c = read_foldoc_man(paths.foldoc_dir(), paths.man_dir())
    assert len(c.doc_ids) > 10_000 and len(c.query_ids) > 1_000 and not c.qrels
    assert np.mean([len(t.split()) for t in c.doc_texts]) > 3 * np.mean([len(t.split()) for t in c.query_texts])


def test_the_sparse_suite_spans_document_and_query_lengths():
    shapes = {spec.name: spec for spec in SPARSE_SUITE}
    assert all(name in REGISTRY for name in shapes)
    for name, spec in shapes.items():
        train, test = spec.make.func(2_000, 200, **{**spec.make.keywords})
        d, q = (int(x) for x in name.removeprefix("sparse-d").split("-q"))
        assert abs(np.diff(train.indptr).mean() / d - 1) < 0.25, name
        assert abs(np.diff(test.indptr).mean() / q - 1) < 0.35, name
