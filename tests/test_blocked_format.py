"""The blocked index's summaries on disk and in search (format version 5): term gaps of 256 and more
(skip rows), terms in more summaries of one list than a row holds, damaged rows, the 4-bit codes
(two per byte, packed across lists) and their bfloat16 min and step, old formats."""

import numpy as np
import pytest
from test_blocked import K
from test_blocked_reference import csr_of, reference_search

from algorithms import _blocked


@pytest.fixture(scope="module")
def wide():
    """Terms spread over the whole 65,536-term range (gaps of 256 and more between a list's summary
    terms: skip rows) and terms in more summaries of one list than a row holds (255 entries)."""
    rng = np.random.default_rng(11)
    dim, n_docs = 65_536, 300
    pool = np.unique(np.concatenate([[1, 255, 256, 511, 512, 767, 1_023, 1_024, 65_279, 65_280, 65_534, 65_535],
                                     rng.integers(2, dim - 1, 90)]))
    frequent = rng.random(len(pool)) < 0.4  # in ~95% of the documents: > 255 summaries of a list
    rows = []
    for _ in range(n_docs):
        keep = np.where(frequent, rng.random(len(pool)) < 0.95, rng.random(len(pool)) < 0.1)
        terms = [0] + pool[keep].tolist()
        rows.append((terms, (rng.integers(1, 64, len(terms)) / 8).tolist()))
    return dim, csr_of(rows, dim), pool, pool[frequent]


def assert_answers_as_reference(indexes, pool, n_queries: int, n_terms: int, seed: int) -> None:
    """Every index answers seeded random queries (terms from ``pool``) as the pure-Python reference
    search over the first one, at a pruned setting, with every list scanned and no early stop, and
    in candidates mode."""
    rng = np.random.default_rng(seed)
    for _ in range(n_queries):
        q_terms = np.sort(rng.choice(pool, n_terms, replace=False)).astype(np.int32)
        q_values = (rng.integers(1, 16, n_terms) / 4).astype(np.float32)
        for qp in ({"query_cut": 3, "heap_factor": 0.9}, {"query_cut": n_terms, "heap_factor": 0.0},
                   {"query_cut": 3, "heap_factor": 0.9, "candidates": 7}):
            want_ids, want_scores = reference_search(indexes[0], q_terms, q_values, K, **qp)
            for ix in indexes:
                ids, scores = ix.search(q_terms, q_values, K, **qp)
                np.testing.assert_array_equal(ids, want_ids)
                np.testing.assert_array_equal(scores[ids >= 0], want_scores.astype(np.float32))


def test_wide_term_gaps_and_long_rows(wide, tmp_path):
    dim, m, pool, frequent = wide
    index = _blocked.Index.build(m.indptr, m.indices, m.data, dim, n_postings=1_000, max_block_size=1,
                                 summary_energy=1.0, doc_cut=0)
    assert index.info()["max_blocks_per_list"] == m.shape[0]  # 2-byte block numbers
    csc = m.tocsc()
    landing = set()  # terms a skip row lands on that no entry row of the list has
    for t in (0, int(frequent[0]), int(frequent[-1])):
        b = index.blocks(t)
        for j, d in enumerate(b["doc_ids"]):  # one document per block: its summary is its row
            lo, hi = b["summary_offsets"][j], b["summary_offsets"][j + 1]
            np.testing.assert_array_equal(b["summary_terms"][lo:hi], m[d].indices)
        assert len(b["doc_ids"]) == csc.indptr[t + 1] - csc.indptr[t]
        terms, counts = np.unique(b["summary_terms"], return_counts=True)
        assert counts.max() > 255
        prev = 0
        for u in terms.tolist():
            if u - prev >= 256 and (u - prev) % 256:
                landing.add(prev + (u - prev) // 256 * 256)
            prev = u
    assert landing
    path = tmp_path / "wide.blk"
    index.save(path)
    loaded = _blocked.Index.load(path)
    candidates = np.unique(np.concatenate([pool, [0, 2, 254, 257, 510, 65_533], sorted(landing)]))
    assert_answers_as_reference((index, loaded), candidates, n_queries=12, n_terms=14, seed=3)


def rewrite_array(raw: bytes, which: int, edit) -> bytes:
    """The index file `raw` with array `which` replaced by edit(bytearray of it), checksum redone."""
    at, arrays = 8 + 8 + 16 * 8 + 3 * 8, []
    while len(arrays) < 14:
        n = int.from_bytes(raw[at : at + 8], "little")
        arrays.append(bytearray(raw[at + 8 : at + 8 + n]))
        at += 8 + n
    edit(arrays[which])
    h, mask = 0xCBF29CE484222325, 2**64 - 1
    for a in arrays:  # bi_save's hash_bytes
        whole = len(a) // 8 * 8
        for w in np.frombuffer(bytes(a[:whole]), dtype="<u8").tolist():
            h = ((h ^ w) * 0x100000001B3) & mask
            h ^= h >> 29
        for byte in a[whole:]:
            h = ((h ^ byte) * 0x100000001B3) & mask
    body = b"".join(len(a).to_bytes(8, "little") + bytes(a) for a in arrays)
    return raw[: 8 + 8 + 16 * 8 + 3 * 8] + body + h.to_bytes(8, "little")


def test_load_rejects_inconsistent_summary_rows(wide, tmp_path):
    """Rows (array 9: delta, count byte pairs) that pass the checksum but break an invariant."""
    dim, m, _, _ = wide
    index = _blocked.Index.build(m.indptr, m.indices, m.data, dim, n_postings=1_000, max_block_size=1,
                                 summary_energy=1.0, doc_cut=0)
    path = tmp_path / "wide.blk"
    index.save(path)
    raw = path.read_bytes()
    assert _blocked.Index.load(path).info() == index.info()  # rewrite_array without an edit round-trips
    path.write_bytes(rewrite_array(raw, 9, lambda a: None))
    assert _blocked.Index.load(path).info() == index.info()

    def first(a, skip):  # byte offset of the first skip row (count 0) or entry row
        return next(j for j in range(0, len(a), 2) if (a[j + 1] == 0) == skip)

    def set_at(skip, offset, value):
        def edit(a):
            a[first(a, skip) + offset] = value
        return edit

    def last_delta(a):  # the last row of the last list, far above the last term
        a[-2] = 255
        a[-1] = 1

    cases = {
        "skip-delta-0": (set_at(True, 0, 0), "skip rows"),
        "entry-count-0": (set_at(False, 1, 0), "skip rows|row counts"),
        "count+1": (set_at(False, 1, 200), "row counts|block"),
        "term>=dim": (last_delta, "term ids"),
        "trailing-skip": (lambda a: a.__setitem__(slice(len(a) - 2, len(a)), b"\x01\x00"), "skip rows"),
    }
    for name, (edit, what) in cases.items():
        bad = tmp_path / f"{name}.blk"
        bad.write_bytes(rewrite_array(raw, 9, edit))
        with pytest.raises(ValueError, match=f"invalid index file: summary ({what})"):
            _blocked.Index.load(bad)


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_load_asks_to_rebuild_older_formats(wide, tmp_path, version):
    dim, m, _, _ = wide
    path = tmp_path / "index.blk"
    _blocked.Index.build(m.indptr, m.indices, m.data, dim, n_postings=100).save(path)
    raw = path.read_bytes()
    old = tmp_path / f"v{version}.blk"
    old.write_bytes(raw[:8] + version.to_bytes(4, "little") + raw[12:])
    with pytest.raises(ValueError, match=f"format version {version}.*rebuild the index"):
        _blocked.Index.load(old)


# --- 4-bit summary codes --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed():
    """Blocks of up to 4 documents (summaries of several rows) with positive weights; an odd number of
    summary entries in all (the first seed that gives one), so the code array ends in a half-used byte."""
    dim = 60
    for seed in range(50):
        rng = np.random.default_rng(seed)
        rows = []
        for _ in range(80):
            terms = np.sort(rng.choice(dim, rng.integers(1, 12), replace=False)).tolist()
            rows.append((terms, (rng.integers(1, 200, len(terms)) / 16).tolist()))
        m = csr_of(rows, dim)
        index = _blocked.Index.build(m.indptr, m.indices, m.data, dim, n_postings=40, max_block_size=4,
                                     summary_energy=0.7)
        if index.info()["n_summary_entries"] % 2 == 1:
            return dim, m, index
    raise AssertionError("no seed in 0..49 gives an odd number of summary entries")


def entry_codes(index, dim) -> list[int]:
    """The codes in stored order: list after list, each list's entries by (term, block)."""
    codes = []
    for t in range(dim):
        b = index.blocks(t)
        blk = np.repeat(np.arange(len(b["summary_min"])), np.diff(b["summary_offsets"]))
        order = np.lexsort((blk, b["summary_terms"]))
        codes += b["summary_codes"][order].tolist()
    return codes


def bfloat16(x: float) -> float:
    """x rounded to bfloat16 (nearest, ties to even), as float: the upper half of its float32 bits."""
    bits = int(np.array(x, dtype=np.float32).view(np.uint32))
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return float(np.array(bits, dtype=np.uint32).view(np.float32))


def test_codes_are_4_bits_within_half_a_step(mixed):
    """Every code is 0..15 and dequantizes to within step / 2 of the block's coordinate-wise maximum
    (recomputed here), up to the bfloat16 rounding of min and step (2^-8 relative); min is the
    smallest kept value rounded to bfloat16; a block's smallest kept value has code 0, its largest 15."""
    dim, m, index = mixed
    dense = m.toarray()
    checked = 0
    for t in range(dim):
        b = index.blocks(t)
        assert b["summary_codes"].dtype == np.uint8
        for j in range(len(b["summary_min"])):
            lo, hi = b["summary_offsets"][j], b["summary_offsets"][j + 1]
            terms, codes = b["summary_terms"][lo:hi], b["summary_codes"][lo:hi].astype(np.int64)
            docs = b["doc_ids"][b["block_offsets"][j] : b["block_offsets"][j + 1]]
            want = dense[docs][:, terms].max(axis=0)  # weights are positive: absent (0) never wins
            mn, step = float(b["summary_min"][j]), float(b["summary_step"][j])
            assert codes.min() >= 0 and codes.max() <= 15
            assert mn == bfloat16(want.min()) and step == bfloat16(step)  # stored as bfloat16
            got = mn + step * codes
            assert np.all(np.abs(got - want) <= step / 2 + (abs(mn) + 15 * step) * 2.0**-8 + 1e-6)
            if want.max() > want.min():
                assert codes[want.argmin()] == 0 and codes[want.argmax()] == 15
                assert step == bfloat16((np.float32(want.max()) - np.float32(want.min())) / np.float32(15))
                checked += 1
            else:
                assert step == 0 and (codes == 0).all()
    assert checked > 100


def test_codes_are_packed_two_per_byte_across_lists(mixed, tmp_path):
    """The code array (file array 13) holds entry E in nibble E & 1 (low first) of byte E >> 1, lists
    back to back (some start in a high nibble); an odd entry count round-trips; a set unused high
    nibble in the last byte is rejected."""
    dim, m, index = mixed
    n = index.info()["n_summary_entries"]
    assert n % 2 == 1
    starts = np.cumsum([0] + [len(index.blocks(t)["summary_codes"]) for t in range(dim)])[:-1]
    assert (starts % 2 == 1).any()  # lists starting in a byte's high nibble
    path = tmp_path / "odd.blk"
    index.save(path)
    raw = path.read_bytes()
    stored = []
    rewrite_array(raw, 13, stored.append)
    packed = np.frombuffer(bytes(stored[0]), dtype=np.uint8)
    assert len(packed) == (n + 1) // 2 and packed[-1] >> 4 == 0
    nibbles = np.stack([packed & 15, packed >> 4], axis=1).reshape(-1)[:n]
    np.testing.assert_array_equal(nibbles, entry_codes(index, dim))

    loaded = _blocked.Index.load(path)
    assert loaded.info() == index.info()
    for t in range(dim):
        np.testing.assert_equal(loaded.blocks(t), index.blocks(t))
    assert_answers_as_reference((index, loaded), dim, n_queries=20, n_terms=6, seed=4)

    def set_high_nibble(a):
        a[-1] |= 0x10

    bad = tmp_path / "nibble.blk"
    bad.write_bytes(rewrite_array(raw, 13, set_high_nibble))
    with pytest.raises(ValueError, match="invalid index file: summary code padding"):
        _blocked.Index.load(bad)
    short = tmp_path / "short.blk"  # one byte fewer than (n + 1) / 2
    short.write_bytes(rewrite_array(raw, 13, lambda a: a.pop()))
    with pytest.raises(ValueError, match="unexpected size|header announces"):
        _blocked.Index.load(short)
