/*
 * blocked_index.c — blocked inverted index for learned sparse retrieval (see blocked_index.h).
 *
 * Pure C11; no Python.  Build, save/load and search of the Seismic design (Bruch, Nardini, Rulli,
 * Venturini, SIGIR 2024).  Overview of the structures:
 *
 *   forward index      fwd_offsets[n_docs + 1], fwd_terms[nnz] (uint16), fwd_f32/fwd_f16[nnz]:
 *                      document d is the row [fwd_offsets[d], fwd_offsets[d + 1]).  The arrays carry
 *                      BI_PAD zeroed elements past the end so the SIMD kernel may read whole vectors.
 *   posting list t     blocks [list_blocks[t], list_blocks[t + 1]) (global block numbers);
 *   block b            documents docs[block_docs[b] .. block_docs[b + 1]) (ascending ids, uint32
 *                      offsets: at most UINT32_MAX postings), stored contiguously, and the
 *                      dequantization of its summary (block_min, block_step, bfloat16: see below);
 *   summaries of t     stored *inverted* per posting list, as the reference does: for every summary
 *                      term u of the list, its (block, 4-bit code) entries, blocks increasing, terms
 *                      increasing.  Scoring all summaries of a list against a query then touches
 *                      only the entries of the query's terms (a few percent of the entries) instead
 *                      of every summary entry.  In the paper's terms this directory (which blocks'
 *                      summaries hold term u, and with which quantized weight) is most of the index,
 *                      so it is stored compactly (format version 4):
 *     rows             list t's rows are [list_sterms[t], list_sterms[t + 1]); row j is the two bytes
 *                      srow[2j] (delta, uint8) and srow[2j + 1] (count, uint8), so BI_SAMPLE = 32
 *                      rows are one 64-byte span.  Terms are delta-coded within the list, starting
 *                      from 0 before its first row:
 *                        count 1..255  an entry row: its term is the previous row's term + delta
 *                                      (the first row's: delta itself), and it owns the next
 *                                      `count` entries.  delta 0 after an entry row is the same
 *                                      term again: a term with more than 255 entries in one list
 *                                      is stored as consecutive rows of 255, 255, ..., the rest
 *                                      entries, so a lookup gathers every row of the term;
 *                        count 0       a skip row (no entries): the term advances by delta * 256
 *                                      (delta 1..255).  A gap g >= 256 between consecutive terms
 *                                      (or from 0 to the first term) is one skip row of delta
 *                                      g >> 8 followed by the entry row of delta g & 255 (which
 *                                      may be 0 there: a new term, the skip row came between);
 *                                      a skip row is always followed by an entry row;
 *                      every row's term (skip rows included) is below dim, and terms never
 *                      decrease within a list;
 *     entries          list t's entries are [list_entries[t], list_entries[t + 1]), in row order
 *                      (global entry numbers E, counted over all lists); entry E's 4-bit code is
 *                      nibble E & 1 of byte sentry_code[E >> 1] (the low nibble for even E), so
 *                      lists are packed back to back without alignment (a list may start in a
 *                      byte's high nibble) and the array has (n_sentries + 1) / 2 bytes, the unused
 *                      high nibble of the last byte (odd n_sentries) being 0; its block number
 *                      (within the list) is in sentry_blk from byte list_blk_off[t]: 1 byte per
 *                      entry when the list has at most 256 blocks, else 2 bytes (little-endian
 *                      uint16) — the width follows from the list's block count;
 *     quantization     a summary value is block_min[b] + block_step[b] * code with code 0..15 and
 *                      step = (max - min) / 15 over the block's kept summary entries (code =
 *                      round((v - min) / step), clamped).  min and step are stored as bfloat16
 *                      (format 5; the upper half of a float32, rounded to nearest even: any float
 *                      range, 2^-8 relative precision, far below the code's step / 2) and the
 *                      codes are computed from the stored values, so a summary decodes to what the
 *                      build chose.  Block offsets and dequantization take 8 bytes per block
 *                      instead of 16 (7 % of the index on WordNet).  4 bits rather than 8: recall measured on
 *                      wordnet-splade-tiny (2,000 queries, three query settings) was unchanged
 *                      (0.9062 vs 0.9062, 0.9015 vs 0.9013, 0.9453 vs 0.9448 with 8 bits): the
 *                      summaries only rank blocks, the documents are scored exactly;
 *     samples          (derived, rebuilt by build_samples at build and at load, not saved) every
 *                      BI_SAMPLE-th row of each list: its absolute term (ssample) and the offset of
 *                      its first entry relative to the list's first entry (ssample_entry).  A query
 *                      term u is located by a binary search for the last sample below u, then a
 *                      linear scan of that chunk's rows from the sample (adding deltas to the term
 *                      and counts to the entry offset) to the first row whose term is >= u: at
 *                      most BI_SAMPLE + 1 rows (the next chunk's first row has a term >= u), one
 *                      or two cache lines of srow.  The rows of u continue while the delta is 0.
 *                      Per (list, term) row this is 2 bytes, plus 2 bytes per gap of 256 or more
 *                      (one skip row: 3% of the rows on wordnet-splade-tiny, 7% on random-xs-sparse),
 *                      plus ~6 / BI_SAMPLE for the samples; per entry 1.5 or 2.5 bytes (1 or 2 of
 *                      block number, half a byte of code).  (Version 3 stored 8-bit codes, one
 *                      byte each, so 2 or 3 bytes per entry; version 2 a uint16 term and a uint8
 *                      count, 3 bytes per row; version 1 a 2-byte term and an 8-byte offset.)
 *
 * Query (bi_search):
 *   1. scatter the query into the dense array q[dim] (cleared again at the end);
 *   2. take the query_cut largest query weights (ties: smaller term first);
 *   3. for each of their posting lists, score every block summary against the whole query:
 *      score(b) = sum over query terms u in the summary of q[u] * (min_b + step_b * code_b(u)),
 *      accumulated in increasing term order (float32, no contraction: -std=c11 implies
 *      -ffp-contract=off), and add the (score, block) pairs to one candidate set for the query;
 *   4. visit the candidate blocks in decreasing summary score over *all* the lists (ties: earlier
 *      list of step 2, then earlier block), with the reference's heap_factor rule: once the top-k
 *      heap holds k documents, a block whose summary score is below heap_factor * (k-th best
 *      score) is skipped (pyseismic-lsr: `if heap.len() == k && dot < heap_factor * heap.peek()
 *      { continue }`).  Because the order is decreasing and the k-th best score only grows, the
 *      first skipped block ends the query.  heap_factor = 0 visits every block;
 *   5. in a visited block, every document not yet scored in this query (visited[d] != epoch) is
 *      scored exactly against the full query through the forward index (gather from q) and
 *      offered to the top-k min-heap (ties: smaller id wins);
 *   6. output sorted by score, descending (ties: smaller id first).
 *
 * Query, candidates mode (candidates > 0; ours, not in the paper): steps 1-2, then instead of 3-5
 * a score-at-a-time pass over the query_cut lists that ranks their documents by the sum of their
 * blocks' summary weights of the lists' own terms, and exact scores for the `candidates` best
 * (score_at_a_time); then step 6.
 */
#include "blocked_index.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define BI_X86 1
#include <immintrin.h>
#else
#define BI_X86 0
#endif

#define BI_PAD 16 /* zeroed elements past the end of the forward arrays (whole-vector reads) */
#define BI_AHEAD 4        /* candidate blocks popped ahead of their visit (prefetch pipeline) */
#define BI_SAMPLE 32      /* summary rows per sample (64 bytes of 2-byte rows) */
#define BI_ROW_MAX 255    /* entries per summary row (uint8 count); larger terms take several rows */
#define BI_DELTA_MAX 255  /* largest term delta of an entry row; larger gaps take a skip row first */
#define BI_CODE_MAX 15    /* summary codes are 4 bits: 0..15, two per byte */
#define BI_AHEAD_DOCS 16  /* at most this many rows of the next block are prefetched */
#define F16_MAX 65504.0f
#define BI_MAX_POSTINGS 4294967295ll /* block offsets into docs are uint32 */

/* ============================================================================================ */
/* Small utilities                                                                              */
/* ============================================================================================ */

static int set_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

#define ENOMEM_RET(err, errlen) set_err(err, errlen, BI_ENOMEM, "out of memory")

/* malloc of n * size bytes with overflow check; never returns a valid pointer for a failed size. */
static void *xmalloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    size_t bytes = n * size;
    return malloc(bytes ? bytes : 1);
}

static void *xcalloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

/* Grows *p to hold at least `need` elements (doubling); returns 0 on failure. */
static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2) return 0;
        c *= 2;
    }
    if (c > SIZE_MAX / size) return 0;
    void *q = realloc(*p, c * size);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

/* splitmix64: the build's only source of randomness, seeded per posting list. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n) (n > 0); the modulo bias is below 2^-32 for the sizes used here. */
static uint64_t rand_below(uint64_t *state, uint64_t n)
{
    return splitmix64(state) % n;
}

/* IEEE half <-> float.  float -> half rounds to nearest even (F. Giesen's float_to_half_fast3_rtne);
 * half -> float is exact for every finite half (normal and subnormal). */
static uint16_t f32_to_f16(float fv)
{
    const uint32_t f32infty = 255u << 23;
    const uint32_t f16max = (127u + 16u) << 23;
    const uint32_t denorm_magic_u = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    uint32_t f;
    memcpy(&f, &fv, 4);
    uint32_t sign = f & 0x80000000u;
    f ^= sign;
    uint16_t o;
    if (f >= f16max) {
        o = (uint16_t)((f > f32infty) ? 0x7e00u : 0x7c00u);
    } else if (f < (113u << 23)) {
        float denorm_magic, ff;
        memcpy(&denorm_magic, &denorm_magic_u, 4);
        memcpy(&ff, &f, 4);
        ff += denorm_magic;
        memcpy(&f, &ff, 4);
        o = (uint16_t)(f - denorm_magic_u);
    } else {
        uint32_t mant_odd = (f >> 13) & 1u;
        f += 0xC8000FFFu; /* ((15 - 127) << 23) + 0xfff, modulo 2^32 */
        f += mant_odd;
        o = (uint16_t)(f >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

/* bfloat16 (the upper 16 bits of a float32) <-> float: rounds to nearest even; finite inputs only
 * (a finite float32 near FLT_MAX may round to infinity; summary values are checked finite). */
static uint16_t f32_to_bf16(float fv)
{
    uint32_t f;
    memcpy(&f, &fv, 4);
    uint32_t sign = f & 0x80000000u;
    f += 0x7fffu + ((f >> 16) & 1u);
    if ((f & 0x7f800000u) == 0x7f800000u) f = sign | 0x7f7f0000u; /* rounded past FLT_MAX: the largest */
    return (uint16_t)(f >> 16);
}

static inline float bf16_to_f32(uint16_t h)
{
    uint32_t o = (uint32_t)h << 16;
    float f;
    memcpy(&f, &o, 4);
    return f;
}

static inline float f16_to_f32(uint16_t h)
{
    /* Shift the magnitude into a float's exponent/mantissa place and rescale by 2^112: exact for
     * normal and subnormal halves (inf/NaN never occur: weights are checked finite). */
    uint32_t o = ((uint32_t)h & 0x7fffu) << 13;
    float f;
    memcpy(&f, &o, 4);
    f *= 0x1p112f;
    memcpy(&o, &f, 4);
    o |= ((uint32_t)h & 0x8000u) << 16;
    memcpy(&f, &o, 4);
    return f;
}

/* ============================================================================================ */
/* The index                                                                                    */
/* ============================================================================================ */

struct bi_index {
    int64_t n_docs, dim, nnz;
    bi_build_params params;
    /* forward index */
    int64_t *fwd_offsets; /* n_docs + 1 */
    uint16_t *fwd_terms;  /* nnz + BI_PAD */
    float *fwd_f32;       /* nnz + BI_PAD, or NULL */
    uint16_t *fwd_f16;    /* nnz + BI_PAD, or NULL */
    /* posting lists, blocks, postings */
    int64_t n_blocks, n_postings, max_blocks_per_list;
    int64_t *list_blocks; /* dim + 1 */
    uint32_t *block_docs; /* n_blocks + 1 */
    uint32_t *docs;       /* n_postings */
    uint16_t *block_min;  /* n_blocks, bfloat16 */
    uint16_t *block_step; /* n_blocks, bfloat16 */
    /* summaries, inverted per posting list (see the top of the file) */
    int64_t n_sterms, n_sentries, n_blk_bytes; /* rows, entries, bytes of block numbers */
    int64_t *list_sterms;   /* dim + 1: rows of each list */
    uint8_t *srow;          /* 2 * n_sterms: (term delta, entry count) of each row, see the top */
    int64_t *list_entries;  /* dim + 1: first entry of each list */
    int64_t *list_blk_off;  /* dim + 1: first byte of each list's block numbers in sentry_blk */
    uint8_t *sentry_blk;    /* n_blk_bytes: block number of each entry, 1 or 2 bytes (see blk_width) */
    uint8_t *sentry_code;   /* (n_sentries + 1) / 2: 4-bit codes, two per byte (see code_at) */
    /* derived (not saved): every BI_SAMPLE-th row of each list, so that finding a query term among
     * a list's rows scans at most BI_SAMPLE + 1 rows (64 bytes and one more row) from a known
     * absolute term and entry offset */
    int64_t *list_samples;    /* dim + 1 */
    uint16_t *ssample;        /* absolute term of the sampled row */
    uint32_t *ssample_entry;  /* first entry of the sampled row, relative to list_entries[t] */
};

/* Bytes per block number in a list of nb blocks: 1 up to 256 blocks, else 2 (little endian). */
static inline int64_t blk_width(int64_t nb)
{
    return nb > 256 ? 2 : 1;
}

/* The 4-bit code of global summary entry E: nibble E & 1 (low nibble first) of byte E >> 1. */
static inline uint32_t code_at(const uint8_t *codes, int64_t E)
{
    return (uint32_t)(codes[E >> 1] >> ((E & 1) << 2)) & 15u;
}

/* The block number of entry e (relative to the list) in a list's block numbers p of width w. */
static inline uint32_t blk_at(const uint8_t *p, int64_t w, int64_t e)
{
    return w == 1 ? p[e] : (uint32_t)p[2 * e] | (uint32_t)p[2 * e + 1] << 8;
}

void bi_build_params_default(bi_build_params *p)
{
    p->n_postings = 3500;
    p->max_fraction = 1.5;
    p->centroid_fraction = 0.1;
    p->summary_energy = 0.4;
    p->min_cluster_size = 2;
    p->doc_cut = 15;
    p->seed = 1142;
    p->pruning = BI_PRUNE_GLOBAL;
    p->value_type = BI_VALUES_F32;
    p->max_block_size = 0;
}

void bi_query_params_default(bi_query_params *qp)
{
    qp->k = 10;
    qp->query_cut = 10;
    qp->heap_factor = 0.9f;
    qp->candidates = 0;
}

void bi_free(bi_index *idx)
{
    if (!idx) return;
    free(idx->fwd_offsets);
    free(idx->fwd_terms);
    free(idx->fwd_f32);
    free(idx->fwd_f16);
    free(idx->list_blocks);
    free(idx->block_docs);
    free(idx->docs);
    free(idx->block_min);
    free(idx->block_step);
    free(idx->list_sterms);
    free(idx->srow);
    free(idx->list_entries);
    free(idx->list_blk_off);
    free(idx->sentry_blk);
    free(idx->sentry_code);
    free(idx->list_samples);
    free(idx->ssample);
    free(idx->ssample_entry);
    free(idx);
}

/* ============================================================================================ */
/* Checks                                                                                       */
/* ============================================================================================ */

int bi_check_csr(const bi_csr *m, const char *what, char *err, size_t errlen)
{
    if (m->n_rows < 0) return set_err(err, errlen, BI_EINVAL, "%s: negative number of rows", what);
    if (m->dim < 1 || m->dim > BI_MAX_DIM)
        return set_err(err, errlen, BI_EINVAL, "%s: dimension %lld is outside [1, %d]", what, (long long)m->dim,
                       BI_MAX_DIM);
    if (m->indptr[0] != 0)
        return set_err(err, errlen, BI_EINVAL, "%s: indptr[0] is %lld, expected 0", what, (long long)m->indptr[0]);
    /* indptr first (its last entry is the length of indices/data, the caller's contract), so that
     * no row is read out of bounds */
    for (int64_t i = 0; i < m->n_rows; i++) {
        if (m->indptr[i + 1] < m->indptr[i])
            return set_err(err, errlen, BI_EINVAL, "%s: indptr decreases at row %lld (%lld > %lld)", what,
                           (long long)i, (long long)m->indptr[i], (long long)m->indptr[i + 1]);
    }
    for (int64_t i = 0; i < m->n_rows; i++) {
        int64_t a = m->indptr[i], b = m->indptr[i + 1];
        int32_t prev = -1;
        for (int64_t j = a; j < b; j++) {
            int32_t t = m->indices[j];
            if (t < 0 || (int64_t)t >= m->dim)
                return set_err(err, errlen, BI_EINVAL, "%s: row %lld has term id %ld outside [0, %lld)", what,
                               (long long)i, (long)t, (long long)m->dim);
            if (t <= prev)
                return set_err(err, errlen, BI_EINVAL,
                               "%s: row %lld has %s term ids (%ld after %ld); term ids must be strictly increasing",
                               what, (long long)i, t == prev ? "duplicate" : "unsorted", (long)t, (long)prev);
            prev = t;
            if (!isfinite(m->data[j]))
                return set_err(err, errlen, BI_EINVAL, "%s: row %lld has a non-finite weight (%g) for term %ld",
                               what, (long long)i, (double)m->data[j], (long)t);
        }
    }
    return BI_OK;
}

int bi_check_build_params(const bi_build_params *p, char *err, size_t errlen)
{
    if (p->n_postings < 1)
        return set_err(err, errlen, BI_EINVAL, "n_postings must be >= 1, got %lld", (long long)p->n_postings);
    if (p->pruning != BI_PRUNE_GLOBAL && p->pruning != BI_PRUNE_FIXED)
        return set_err(err, errlen, BI_EINVAL, "unknown pruning strategy %d", p->pruning);
    if (p->pruning == BI_PRUNE_GLOBAL &&
        (!isfinite(p->max_fraction) || p->max_fraction <= 0 || p->max_fraction * (double)p->n_postings < 1.0))
        return set_err(err, errlen, BI_EINVAL,
                       "max_fraction must be finite and max_fraction * n_postings >= 1, got %g", p->max_fraction);
    if (!isfinite(p->centroid_fraction) || p->centroid_fraction <= 0 || p->centroid_fraction > 1)
        return set_err(err, errlen, BI_EINVAL, "centroid_fraction must be in (0, 1], got %g", p->centroid_fraction);
    if (!isfinite(p->summary_energy) || p->summary_energy <= 0 || p->summary_energy > 1)
        return set_err(err, errlen, BI_EINVAL, "summary_energy must be in (0, 1], got %g", p->summary_energy);
    if (p->min_cluster_size < 0)
        return set_err(err, errlen, BI_EINVAL, "min_cluster_size must be >= 0, got %lld",
                       (long long)p->min_cluster_size);
    if (p->doc_cut < 0)
        return set_err(err, errlen, BI_EINVAL, "doc_cut must be >= 0 (0 = every entry), got %lld",
                       (long long)p->doc_cut);
    if (p->max_block_size < 0)
        return set_err(err, errlen, BI_EINVAL, "max_block_size must be >= 0 (0 = no limit), got %lld",
                       (long long)p->max_block_size);
    if (p->value_type != BI_VALUES_F32 && p->value_type != BI_VALUES_F16)
        return set_err(err, errlen, BI_EINVAL, "unknown value type %d", p->value_type);
    return BI_OK;
}

int bi_check_query_params(const bi_query_params *qp, char *err, size_t errlen)
{
    if (qp->k < 1) return set_err(err, errlen, BI_EINVAL, "k must be >= 1, got %lld", (long long)qp->k);
    if (qp->k > INT32_MAX) return set_err(err, errlen, BI_EINVAL, "k is too large (%lld)", (long long)qp->k);
    if (qp->query_cut < 1)
        return set_err(err, errlen, BI_EINVAL, "query_cut must be >= 1, got %lld", (long long)qp->query_cut);
    if (!isfinite(qp->heap_factor) || qp->heap_factor < 0)
        return set_err(err, errlen, BI_EINVAL, "heap_factor must be finite and >= 0, got %g",
                       (double)qp->heap_factor);
    if (qp->candidates < 0)
        return set_err(err, errlen, BI_EINVAL, "candidates must be >= 0 (0 = the block walk), got %lld",
                       (long long)qp->candidates);
    if (qp->candidates > INT32_MAX)
        return set_err(err, errlen, BI_EINVAL, "candidates is too large (%lld)", (long long)qp->candidates);
    return BI_OK;
}

/* ============================================================================================ */
/* Build: static pruning                                                                        */
/* ============================================================================================ */

typedef struct {
    float value;
    uint32_t doc;
} posting_t;

/* Orders postings by weight, largest first; ties by document id. */
static int cmp_posting_value_desc(const void *a, const void *b)
{
    const posting_t *x = a, *y = b;
    if (x->value > y->value) return -1;
    if (x->value < y->value) return 1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

static int cmp_posting_doc(const void *a, const void *b)
{
    const posting_t *x = a, *y = b;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

/* The k-th largest of a[0..n) (1 <= k <= n); reorders a.  Quickselect, 3-way partition. */
static float kth_largest(float *a, size_t n, size_t k, uint64_t *rng)
{
    size_t lo = 0, hi = n, want = k - 1;
    while (hi - lo > 1) {
        float pivot = a[lo + rand_below(rng, hi - lo)];
        size_t lt = lo, i = lo, gt = hi; /* [lo,lt) > pivot, [lt,gt) == pivot, [gt,hi) < pivot */
        while (i < gt) {
            float v = a[i];
            if (v > pivot) {
                a[i] = a[lt];
                a[lt] = v;
                lt++;
                i++;
            } else if (v < pivot) {
                gt--;
                a[i] = a[gt];
                a[gt] = v;
            } else {
                i++;
            }
        }
        if (want < lt) hi = lt;
        else if (want >= gt) lo = gt;
        else return pivot;
    }
    return a[lo];
}

/* Static pruning.  `post` holds every posting grouped by term (term t in [start[t], start[t+1]),
 * documents ascending); on return, list t keeps len[t] postings at post[start[t] ..], sorted by
 * document id. */
static int prune_lists(const bi_build_params *p, int64_t dim, int64_t nnz, posting_t *post, const int64_t *start,
                       int64_t *len, char *err, size_t errlen)
{
    uint64_t rng = p->seed ^ 0x5bd1e995ull;
    int64_t cap;
    if (p->pruning == BI_PRUNE_FIXED) {
        cap = p->n_postings;
    } else {
        /* Global threshold: keep the n_postings * (number of non-empty lists) largest entries overall
         * (ties at the threshold: lists in term order, documents ascending), then at most
         * floor(max_fraction * n_postings) per list (the largest). */
        double c = floor(p->max_fraction * (double)p->n_postings);
        cap = c >= (double)INT64_MAX ? INT64_MAX : (int64_t)c;
        int64_t nonempty = 0;
        for (int64_t t = 0; t < dim; t++) nonempty += start[t + 1] > start[t];
        int64_t budget = (nonempty && p->n_postings > INT64_MAX / nonempty) ? INT64_MAX : p->n_postings * nonempty;
        if (budget < nnz) {
            float *vals = xmalloc((size_t)nnz, sizeof(float));
            if (!vals) return ENOMEM_RET(err, errlen);
            for (int64_t i = 0; i < nnz; i++) vals[i] = post[i].value;
            float thr = kth_largest(vals, (size_t)nnz, (size_t)budget, &rng);
            free(vals);
            int64_t above = 0;
            for (int64_t i = 0; i < nnz; i++) above += post[i].value > thr;
            int64_t ties = budget - above;
            for (int64_t t = 0; t < dim; t++) {
                int64_t w = start[t];
                for (int64_t i = start[t]; i < start[t + 1]; i++) {
                    float v = post[i].value;
                    if (v > thr || (v == thr && ties > 0)) {
                        if (v == thr) ties--;
                        post[w++] = post[i];
                    }
                }
                len[t] = w - start[t];
            }
            goto apply_cap;
        }
    }
    for (int64_t t = 0; t < dim; t++) len[t] = start[t + 1] - start[t];
apply_cap:
    for (int64_t t = 0; t < dim; t++) {
        if (len[t] > cap) {
            qsort(post + start[t], (size_t)len[t], sizeof(posting_t), cmp_posting_value_desc);
            len[t] = cap;
            qsort(post + start[t], (size_t)len[t], sizeof(posting_t), cmp_posting_doc);
        }
    }
    return BI_OK;
}

/* ============================================================================================ */
/* Build: blocking (one-pass random k-means) and summaries                                      */
/* ============================================================================================ */

struct sv { /* one entry of a block's coordinate-wise maximum */
    float v;
    int32_t t;
};

struct se { /* one summary entry of a posting list: term, block within the list, 4-bit code */
    int32_t t;
    uint16_t b;
    uint8_t c;
};

/* Scratch shared by every posting list of one build (allocated once). */
typedef struct {
    int64_t dim;
    /* the documents, as given (float weights; clustering and summaries use these) */
    const int64_t *indptr;
    const int32_t *indices;
    const float *data;
    /* each document's doc_cut largest entries, as a CSR (clustering scores documents with them) */
    int64_t *cut_ptr;
    int32_t *cut_terms;
    float *cut_vals;
    /* term -> slot map (-1 = absent), reset after use */
    int32_t *slot;
    int32_t *touched;
    int64_t n_touched;
    /* centroid inverted index of one list */
    int64_t *ci_start;
    uint32_t *ci_centroid;
    float *ci_weight;
    size_t ci_cap;
    /* clustering of one list */
    uint32_t *pos;      /* permutation for centroid sampling */
    uint32_t *assign;   /* cluster of each posting */
    int64_t *csize;     /* cluster sizes */
    uint8_t *allowed;   /* cluster may receive documents */
    float *score;       /* per-centroid scores of one document */
    int64_t *cfirst;    /* counting-sort offsets */
    uint32_t *cluster_block;
    uint32_t *ordered;  /* postings reordered by block */
    uint32_t *tmp_docs; /* counting-sort buffer */
    int64_t *bounds1;   /* first-level cluster boundaries */
    size_t list_cap;    /* capacity of the per-posting and per-centroid arrays */
    /* summary of one block */
    float *smax;        /* dim */
    uint32_t *sepoch;   /* dim */
    uint32_t epoch;
    struct sv *sv, *sv2;
    size_t sv_cap, sv2_cap;
    /* summary entries of one list: (term, block, code) */
    struct se *se;
    size_t se_cap;
    int32_t *sterms_tmp, *sterms_tmp2;
    size_t sterms_tmp_cap;
} build_ctx;

/* Sorts n term ids (< 65,536) ascending: LSD radix sort, two passes of 8 bits, through tmp. */
static void sort_terms(int32_t *a, int32_t *tmp, int64_t n)
{
    int64_t count[257];
    for (int shift = 0; shift < 16; shift += 8) {
        int32_t *src = shift ? tmp : a, *dst = shift ? a : tmp;
        memset(count, 0, sizeof count);
        for (int64_t i = 0; i < n; i++) count[((src[i] >> shift) & 0xff) + 1]++;
        for (int b = 0; b < 256; b++) count[b + 1] += count[b];
        for (int64_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & 0xff]++] = src[i];
    }
}

/* Output of the build, grown list by list. */
typedef struct {
    uint32_t *block_docs;
    size_t block_docs_cap;
    uint16_t *bmin, *bstep; /* bfloat16 */
    size_t bcap;
    int64_t n_blocks;
    uint8_t *srow;    /* 2 bytes per row */
    size_t srow_cap;  /* in bytes */
    int64_t n_sterms; /* rows */
    uint8_t *sentry_blk;
    size_t blk_cap;
    int64_t n_blk_bytes;
    uint8_t *sentry_code; /* 4-bit codes, two per byte (see the top of the file) */
    size_t sentry_cap;    /* in bytes */
    int64_t n_sentries;   /* entries, i.e. nibbles */
} build_out;

static int cmp_sv_desc(const void *a, const void *b)
{
    const struct sv *x = a, *y = b;
    if (x->v > y->v) return -1;
    if (x->v < y->v) return 1;
    return (x->t > y->t) - (x->t < y->t);
}

/* Selects the largest entries of sv[0..n) holding `energy` of their total mass, as the reference's
 * energy-preserving summary: entries by decreasing weight (ties: smaller term first), taken while
 * the running sum is below energy * total, including the entry that reaches it.  Moves them to
 * sv[0..result).  Linear time: a histogram of the masses over 256 value buckets finds the bucket
 * where the running sum crosses the target; only that bucket's entries are sorted.  `tmp` holds
 * n entries. */
static size_t energy_select(struct sv *sv, size_t n, double energy, struct sv *tmp)
{
    if (energy >= 1.0 || n <= 1) return n;
    enum { NB = 256 };
    double total = 0;
    float mx = sv[0].v;
    for (size_t i = 0; i < n; i++) {
        total += fabs((double)sv[i].v);
        mx = sv[i].v > mx ? sv[i].v : mx;
    }
    double need = energy * total;
    size_t w = 0;
    if (!(mx > 0)) { /* no positive weight: sort everything */
        qsort(sv, n, sizeof(struct sv), cmp_sv_desc);
    } else {
        double mass[NB];
        memset(mass, 0, sizeof mass);
        float scale = (float)NB / mx;
#define BUCKET(v) ((v) > 0 ? ((int)((v) * scale) < NB ? (int)((v) * scale) : NB - 1) : 0)
        for (size_t i = 0; i < n; i++) mass[BUCKET(sv[i].v)] += fabs((double)sv[i].v);
        int cut = NB - 1; /* the bucket where the running sum (from the top) reaches `need` */
        double above = 0;
        for (; cut > 0; cut--) {
            if (above + mass[cut] >= need) break;
            above += mass[cut];
        }
        size_t nc = 0;
        for (size_t i = 0; i < n; i++) {
            int bk = BUCKET(sv[i].v);
            if (bk > cut) sv[w++] = sv[i]; /* w <= i: in-place compaction */
            else if (bk == cut) tmp[nc++] = sv[i];
        }
#undef BUCKET
        need -= above;
        qsort(tmp, nc, sizeof(struct sv), cmp_sv_desc);
        memcpy(sv + w, tmp, nc * sizeof(struct sv));
        n = w + nc;
    }
    /* sv[w..n) is in decreasing order: take while the mass is not reached (inclusive) */
    while (w < n && need > 0) need -= fabs((double)sv[w++].v);
    return w ? w : 1;
}

/* One-pass random k-means of docs[0..n) (ascending ids) into at most nc clusters: nc distinct
 * documents drawn at random are the centroids; every document goes to the centroid of largest
 * inner product between the document's doc_cut largest entries and the centroid's full vector
 * (ties: first centroid); clusters with fewer than min_cluster_size documents are dissolved and
 * their documents go to their best remaining cluster.  Reorders docs by cluster (centroid order,
 * ids ascending within a cluster), writes the cluster boundaries to bounds[0..ng] and returns the
 * number ng of non-empty clusters. */
static int64_t kmeans(build_ctx *cx, const bi_build_params *p, uint32_t *docs, int64_t n, int64_t nc, uint64_t *rng,
                      int64_t *bounds)
{
    /* 1. centroids: partial Fisher-Yates shuffle of the positions */
    for (int64_t i = 0; i < n; i++) cx->pos[i] = (uint32_t)i;
    for (int64_t i = 0; i < nc; i++) {
        int64_t j = i + (int64_t)rand_below(rng, (uint64_t)(n - i));
        uint32_t tmp = cx->pos[i];
        cx->pos[i] = cx->pos[j];
        cx->pos[j] = tmp;
    }
    /* 2. inverted index of the centroids' full vectors: term -> (centroid, weight) */
    cx->n_touched = 0;
    int64_t total = 0;
    for (int64_t c = 0; c < nc; c++) {
        uint32_t d = docs[cx->pos[c]];
        for (int64_t j = cx->indptr[d]; j < cx->indptr[d + 1]; j++) {
            int32_t u = cx->indices[j];
            if (cx->slot[u] < 0) {
                cx->slot[u] = (int32_t)cx->n_touched;
                cx->touched[cx->n_touched] = u;
                cx->ci_start[cx->n_touched] = 0;
                cx->n_touched++;
            }
            cx->ci_start[cx->slot[u]]++;
            total++;
        }
    }
    /* ci arrays hold at most every entry of the list's documents: sized by the caller */
    int64_t acc = 0;
    for (int64_t s = 0; s < cx->n_touched; s++) {
        int64_t c = cx->ci_start[s];
        cx->ci_start[s] = acc;
        acc += c;
    }
    cx->ci_start[cx->n_touched] = acc;
    for (int64_t c = 0; c < nc; c++) {
        uint32_t d = docs[cx->pos[c]];
        for (int64_t j = cx->indptr[d]; j < cx->indptr[d + 1]; j++) {
            int64_t at = cx->ci_start[cx->slot[cx->indices[j]]]++;
            cx->ci_centroid[at] = (uint32_t)c;
            cx->ci_weight[at] = cx->data[j];
        }
    }
    for (int64_t s = cx->n_touched; s > 0; s--) cx->ci_start[s] = cx->ci_start[s - 1];
    cx->ci_start[0] = 0;
    (void)total;

    /* 3. assignment, then the merge of too small clusters */
    for (int64_t c = 0; c < nc; c++) {
        cx->allowed[c] = 1;
        cx->csize[c] = 0;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < n; i++) {
            if (pass == 1 && cx->allowed[cx->assign[i]]) continue;
            uint32_t d = docs[i];
            memset(cx->score, 0, (size_t)nc * sizeof(float));
            for (int64_t j = cx->cut_ptr[d]; j < cx->cut_ptr[d + 1]; j++) {
                int32_t sl = cx->slot[cx->cut_terms[j]];
                if (sl < 0) continue;
                float w = cx->cut_vals[j];
                for (int64_t e = cx->ci_start[sl]; e < cx->ci_start[sl + 1]; e++)
                    cx->score[cx->ci_centroid[e]] += w * cx->ci_weight[e];
            }
            int64_t best = -1;
            float bs = 0;
            for (int64_t c = 0; c < nc; c++) {
                if (cx->allowed[c] && (best < 0 || cx->score[c] > bs)) {
                    best = c;
                    bs = cx->score[c];
                }
            }
            if (pass == 1) cx->csize[cx->assign[i]]--;
            cx->assign[i] = (uint32_t)best;
            cx->csize[best]++;
        }
        if (pass == 0) {
            int64_t kept = 0;
            for (int64_t c = 0; c < nc; c++) {
                cx->allowed[c] = cx->csize[c] > 0 && cx->csize[c] >= p->min_cluster_size;
                kept += cx->allowed[c];
            }
            if (kept == 0) { /* every cluster is too small: one cluster */
                for (int64_t i = 0; i < n; i++) cx->assign[i] = 0;
                for (int64_t c = 0; c < nc; c++) cx->csize[c] = 0;
                cx->csize[0] = n;
                break;
            }
            if (kept == nc) break;
        }
    }
    for (int64_t s = 0; s < cx->n_touched; s++) cx->slot[cx->touched[s]] = -1;
    cx->n_touched = 0;

    /* 4. group the documents by cluster (stable counting sort) */
    int64_t ng = 0;
    for (int64_t c = 0; c < nc; c++)
        if (cx->csize[c] > 0) cx->cluster_block[c] = (uint32_t)ng++;
    for (int64_t g = 0; g <= ng; g++) bounds[g] = 0;
    for (int64_t i = 0; i < n; i++) {
        cx->assign[i] = cx->cluster_block[cx->assign[i]];
        bounds[cx->assign[i] + 1]++;
    }
    for (int64_t g = 0; g < ng; g++) bounds[g + 1] += bounds[g];
    for (int64_t i = 0; i < n; i++) cx->tmp_docs[bounds[cx->assign[i]]++] = docs[i];
    for (int64_t g = ng; g > 0; g--) bounds[g] = bounds[g - 1];
    bounds[0] = 0;
    memcpy(docs, cx->tmp_docs, (size_t)n * sizeof(uint32_t));
    return ng;
}

/* Splits the block docs[0..n) into blocks of at most max_block_size documents, by k-means into
 * ceil(2 n / max_block_size) clusters, recursively (a split that makes no progress, e.g. on
 * identical documents, falls back to equal consecutive chunks).  Appends the end offsets of the
 * resulting blocks (relative to `base`) to out[*n_out ...]. */
static int split_block(build_ctx *cx, const bi_build_params *p, uint32_t *docs, int64_t n, int64_t base,
                       uint64_t *rng, int64_t *out, int64_t *n_out)
{
    int64_t m = p->max_block_size;
    if (m <= 0 || n <= m) {
        out[(*n_out)++] = base + n;
        return BI_OK;
    }
    int64_t nc = (2 * n + m - 1) / m;
    if (nc > n) nc = n;
    int64_t *bounds = xmalloc((size_t)nc + 1, sizeof(int64_t));
    if (!bounds) return BI_ENOMEM;
    int64_t ng = kmeans(cx, p, docs, n, nc, rng, bounds);
    int rc = BI_OK;
    if (ng <= 1) {
        int64_t nch = (n + m - 1) / m;
        for (int64_t c = 1; c <= nch; c++) out[(*n_out)++] = base + (n * c) / nch;
    } else {
        for (int64_t g = 0; g < ng && rc == BI_OK; g++)
            rc = split_block(cx, p, docs + bounds[g], bounds[g + 1] - bounds[g], base + bounds[g], rng, out, n_out);
    }
    free(bounds);
    return rc;
}

/* Clusters one pruned posting list (postings p[0..L), ascending documents) into blocks, writes
 * the blocks' postings (reordered) to `docs_out`, and appends blocks and summaries to `out`. */
static int build_list(build_ctx *cx, const bi_build_params *p, int64_t term, const posting_t *p_list, int64_t L,
                      uint32_t *docs_out, int64_t docs_base, build_out *out, int64_t *max_blocks, char *err,
                      size_t errlen)
{
    /* a per-list random stream, independent of the order in which lists are built */
    uint64_t rng = p->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(term + 1));
    (void)splitmix64(&rng);
    int64_t nc = (int64_t)floor(p->centroid_fraction * (double)L);
    if (nc < 1) nc = 1;
    if (nc > L) nc = L;
    if (nc > BI_MAX_BLOCKS_PER_LIST) nc = BI_MAX_BLOCKS_PER_LIST;

    int64_t entries = 0;
    for (int64_t i = 0; i < L; i++) {
        uint32_t d = p_list[i].doc;
        cx->ordered[i] = d;
        entries += cx->indptr[d + 1] - cx->indptr[d];
    }
    /* the centroid inverted index holds at most every entry of the list's documents */
    size_t cap = cx->ci_cap;
    if (!grow((void **)&cx->ci_centroid, &cx->ci_cap, (size_t)entries + 1, sizeof(uint32_t)))
        return ENOMEM_RET(err, errlen);
    if (cap != cx->ci_cap) {
        float *w = realloc(cx->ci_weight, cx->ci_cap * sizeof(float));
        if (!w) return ENOMEM_RET(err, errlen);
        cx->ci_weight = w;
    }
    /* 1. clusters of the list (one cluster when nc == 1) */
    int64_t n1 = 1;
    cx->bounds1[0] = 0;
    cx->bounds1[1] = L;
    if (nc > 1) n1 = kmeans(cx, p, cx->ordered, L, nc, &rng, cx->bounds1);
    /* 2. clusters larger than max_block_size are split further */
    int64_t n_blocks = 0;
    cx->cfirst[0] = 0;
    for (int64_t g = 0; g < n1; g++) {
        int64_t a0 = cx->bounds1[g], a1 = cx->bounds1[g + 1];
        if (split_block(cx, p, cx->ordered + a0, a1 - a0, a0, &rng, cx->cfirst + 1, &n_blocks) != BI_OK)
            return ENOMEM_RET(err, errlen);
    }
    if (n_blocks > BI_MAX_BLOCKS_PER_LIST) {
        /* too many blocks for 16-bit block numbers: merge neighbours pairwise until it fits */
        while (n_blocks > BI_MAX_BLOCKS_PER_LIST) {
            int64_t w = 0;
            for (int64_t b = 1; b <= n_blocks; b += 2) cx->cfirst[++w] = cx->cfirst[b + 1 <= n_blocks ? b + 1 : b];
            n_blocks = w;
        }
    }
    if (n_blocks > *max_blocks) *max_blocks = n_blocks;

    /* 5. store the blocks and their summaries */
    if (!grow((void **)&out->block_docs, &out->block_docs_cap, (size_t)(out->n_blocks + n_blocks + 1),
              sizeof(uint32_t)))
        return ENOMEM_RET(err, errlen);
    size_t bcap = out->bcap;
    if (!grow((void **)&out->bmin, &out->bcap, (size_t)(out->n_blocks + n_blocks), sizeof(uint16_t)))
        return ENOMEM_RET(err, errlen);
    if (out->bcap != bcap) {
        uint16_t *s = realloc(out->bstep, out->bcap * sizeof(uint16_t));
        if (!s) return ENOMEM_RET(err, errlen);
        out->bstep = s;
    }
    size_t n_se = 0;
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t a0 = cx->cfirst[b], a1 = cx->cfirst[b + 1];
        out->block_docs[out->n_blocks + b] = (uint32_t)(docs_base + a0);
        memcpy(docs_out + a0, cx->ordered + a0, (size_t)(a1 - a0) * sizeof(uint32_t));
        /* coordinate-wise maximum of the block's documents */
        if (++cx->epoch == 0) {
            memset(cx->sepoch, 0, (size_t)cx->dim * sizeof(uint32_t));
            cx->epoch = 1;
        }
        size_t nsv = 0;
        for (int64_t i = a0; i < a1; i++) {
            uint32_t d = cx->ordered[i];
            int64_t j0 = cx->indptr[d], j1 = cx->indptr[d + 1];
            if (!grow((void **)&cx->sv, &cx->sv_cap, nsv + (size_t)(j1 - j0), sizeof(struct sv)))
                return ENOMEM_RET(err, errlen);
            for (int64_t j = j0; j < j1; j++) {
                int32_t u = cx->indices[j];
                float v = cx->data[j];
                if (cx->sepoch[u] != cx->epoch) {
                    cx->sepoch[u] = cx->epoch;
                    cx->smax[u] = v;
                    cx->sv[nsv].t = u;
                    nsv++;
                } else if (v > cx->smax[u]) {
                    cx->smax[u] = v;
                }
            }
        }
        for (size_t i = 0; i < nsv; i++) cx->sv[i].v = cx->smax[cx->sv[i].t];
        /* energy-preserving truncation, then 4-bit quantization: value = min + step * code,
         * code 0..BI_CODE_MAX */
        if (!grow((void **)&cx->sv2, &cx->sv2_cap, nsv, sizeof(struct sv))) return ENOMEM_RET(err, errlen);
        size_t keep = nsv ? energy_select(cx->sv, nsv, p->summary_energy, cx->sv2) : 0;
        /* the list's own term always stays (one entry more at most; Seismic's summaries may drop
         * it): every document of the block has it, and on long documents (a few hundred
         * non-zeros: LIMIT) the energy cut drops it from most summaries, so that the summary
         * score of a block misses the very term that put the block in the scanned list and
         * the walk stops before the blocks that matter (recall@10 0.58 -> 0.78 at query_cut 8,
         * heap_factor 0.5 on limit-splade-tiny) */
        size_t has = 0;
        while (has < keep && cx->sv[has].t != (int32_t)term) has++;
        if (has == keep && keep < nsv && cx->sepoch[term] == cx->epoch) {
            cx->sv[keep].t = (int32_t)term;
            cx->sv[keep].v = cx->smax[term];
            keep++;
        }
        float mn = 0, mx = 0;
        for (size_t i = 0; i < keep; i++) {
            float v = cx->sv[i].v;
            if (i == 0 || v < mn) mn = v;
            if (i == 0 || v > mx) mx = v;
        }
        /* stored as bfloat16; the codes below use the stored (rounded) min and step */
        uint16_t mn16 = f32_to_bf16(mn), step16 = f32_to_bf16((mx - mn) / (float)BI_CODE_MAX);
        out->bmin[out->n_blocks + b] = mn16;
        out->bstep[out->n_blocks + b] = step16;
        mn = bf16_to_f32(mn16);
        float step = bf16_to_f32(step16);
        if (!grow((void **)&cx->se, &cx->se_cap, n_se + keep, sizeof(struct se))) return ENOMEM_RET(err, errlen);
        for (size_t i = 0; i < keep; i++) {
            float code = step > 0 ? floorf((cx->sv[i].v - mn) / step + 0.5f) : 0.0f;
            if (code < 0) code = 0;
            if (code > BI_CODE_MAX) code = BI_CODE_MAX;
            cx->se[n_se].t = cx->sv[i].t;
            cx->se[n_se].b = (uint16_t)b;
            cx->se[n_se].c = (uint8_t)code;
            n_se++;
        }
    }
    out->n_blocks += n_blocks;
    out->block_docs[out->n_blocks] = (uint32_t)(docs_base + L);

    /* 6. invert the summaries: distinct terms ascending, each with its (block, code) entries in block
     *    order (a stable counting sort by term of the block-ordered entries); a term with c entries
     *    takes ceil(c / BI_ROW_MAX) rows (BI_ROW_MAX entries each, the last one the rest), the first
     *    of them preceded by a skip row when its term is 256 or more above the previous term (or
     *    above 0 for the list's first term) */
    int64_t nt = 0;
    size_t tcap = cx->sterms_tmp_cap;
    if (!grow((void **)&cx->sterms_tmp, &cx->sterms_tmp_cap, n_se + 1, sizeof(int32_t)))
        return ENOMEM_RET(err, errlen);
    if (tcap != cx->sterms_tmp_cap || !cx->sterms_tmp2) {
        int32_t *t2 = realloc(cx->sterms_tmp2, cx->sterms_tmp_cap * sizeof(int32_t));
        if (!t2) return ENOMEM_RET(err, errlen);
        cx->sterms_tmp2 = t2;
    }
    for (size_t i = 0; i < n_se; i++) {
        int32_t u = cx->se[i].t;
        if (cx->slot[u] < 0) {
            cx->slot[u] = 0;
            cx->sterms_tmp[nt++] = u;
        }
    }
    sort_terms(cx->sterms_tmp, cx->sterms_tmp2, nt);
    /* counts per term */
    for (int64_t s = 0; s < nt; s++) {
        cx->slot[cx->sterms_tmp[s]] = (int32_t)s;
        cx->ci_start[s] = 0; /* reuse as counters (ci_start has dim + 1 entries) */
    }
    for (size_t i = 0; i < n_se; i++) cx->ci_start[cx->slot[cx->se[i].t]]++;
    int64_t rows = 0;
    for (int64_t s = 0, prev = 0; s < nt; prev = cx->sterms_tmp[s++])
        rows += (cx->ci_start[s] + BI_ROW_MAX - 1) / BI_ROW_MAX + (cx->sterms_tmp[s] - prev > BI_DELTA_MAX);
    if (!grow((void **)&out->srow, &out->srow_cap, (size_t)(out->n_sterms + rows) * 2, 1))
        return ENOMEM_RET(err, errlen);
    int64_t acc = 0, r = out->n_sterms;
    uint8_t *row = out->srow;
    for (int64_t s = 0, prev = 0; s < nt; prev = cx->sterms_tmp[s++]) {
        int64_t c = cx->ci_start[s], gap = cx->sterms_tmp[s] - prev; /* gap < 65,536 */
        cx->ci_start[s] = acc;
        acc += c;
        if (gap > BI_DELTA_MAX) { /* skip row: + (gap >> 8) * 256 */
            row[2 * r] = (uint8_t)(gap >> 8);
            row[2 * r + 1] = 0;
            r++;
        }
        for (int64_t d = gap & 0xff; c > 0; c -= BI_ROW_MAX, r++, d = 0) {
            row[2 * r] = (uint8_t)d;
            row[2 * r + 1] = (uint8_t)(c < BI_ROW_MAX ? c : BI_ROW_MAX);
        }
    }
    out->n_sterms = r;
    const int64_t w = blk_width(n_blocks);
    /* codes: global entry E is nibble E & 1 of byte E >> 1.  The list may start in the high nibble
     * of the previous list's last byte (that nibble is still 0); the bytes after it are cleared
     * here, then every entry's code is ORed into its nibble (each nibble is written once). */
    const int64_t code_bytes = (out->n_sentries + 1) / 2, code_need = (out->n_sentries + acc + 1) / 2;
    if (!grow((void **)&out->sentry_code, &out->sentry_cap, (size_t)code_need, 1) ||
        !grow((void **)&out->sentry_blk, &out->blk_cap, (size_t)(out->n_blk_bytes + w * acc), 1))
        return ENOMEM_RET(err, errlen);
    if (code_need > code_bytes) memset(out->sentry_code + code_bytes, 0, (size_t)(code_need - code_bytes));
    uint8_t *blk = out->sentry_blk + out->n_blk_bytes;
    for (size_t i = 0; i < n_se; i++) {
        int64_t at = cx->ci_start[cx->slot[cx->se[i].t]]++, E = out->n_sentries + at;
        out->sentry_code[E >> 1] |= (uint8_t)(cx->se[i].c << ((E & 1) << 2));
        if (w == 1) {
            blk[at] = (uint8_t)cx->se[i].b;
        } else {
            blk[2 * at] = (uint8_t)(cx->se[i].b & 0xffu);
            blk[2 * at + 1] = (uint8_t)(cx->se[i].b >> 8);
        }
    }
    out->n_sentries += acc;
    out->n_blk_bytes += w * acc;
    for (int64_t s = 0; s < nt; s++) cx->slot[cx->sterms_tmp[s]] = -1;
    return BI_OK;
}

static void build_ctx_free(build_ctx *cx)
{
    free(cx->cut_ptr);
    free(cx->cut_terms);
    free(cx->cut_vals);
    free(cx->slot);
    free(cx->touched);
    free(cx->ci_start);
    free(cx->ci_centroid);
    free(cx->ci_weight);
    free(cx->pos);
    free(cx->assign);
    free(cx->csize);
    free(cx->allowed);
    free(cx->score);
    free(cx->cfirst);
    free(cx->cluster_block);
    free(cx->ordered);
    free(cx->tmp_docs);
    free(cx->bounds1);
    free(cx->smax);
    free(cx->sepoch);
    free(cx->sv);
    free(cx->sv2);
    free(cx->se);
    free(cx->sterms_tmp);
    free(cx->sterms_tmp2);
}

/* Each document's doc_cut largest entries (all when doc_cut is 0 or the row is shorter); ties:
 * smaller term first.  Kept in increasing term order. */
static int build_cut_vectors(build_ctx *cx, const bi_csr *m, int64_t doc_cut, char *err, size_t errlen)
{
    int64_t n = m->n_rows, total = 0;
    cx->cut_ptr = xmalloc((size_t)n + 1, sizeof(int64_t));
    if (!cx->cut_ptr) return ENOMEM_RET(err, errlen);
    cx->cut_ptr[0] = 0;
    for (int64_t d = 0; d < n; d++) {
        int64_t len = m->indptr[d + 1] - m->indptr[d];
        if (doc_cut > 0 && len > doc_cut) len = doc_cut;
        total += len;
        cx->cut_ptr[d + 1] = total;
    }
    cx->cut_terms = xmalloc((size_t)total + 1, sizeof(int32_t));
    cx->cut_vals = xmalloc((size_t)total + 1, sizeof(float));
    int64_t *top = xmalloc((size_t)(doc_cut > 0 ? doc_cut : 1), sizeof(int64_t));
    if (!cx->cut_terms || !cx->cut_vals || !top) {
        free(top);
        return ENOMEM_RET(err, errlen);
    }
    for (int64_t d = 0; d < n; d++) {
        int64_t a = m->indptr[d], b = m->indptr[d + 1], w = cx->cut_ptr[d];
        if (doc_cut == 0 || b - a <= doc_cut) {
            for (int64_t j = a; j < b; j++, w++) {
                cx->cut_terms[w] = m->indices[j];
                cx->cut_vals[w] = m->data[j];
            }
            continue;
        }
        /* top doc_cut positions by (weight desc, position asc), kept sorted in `top` */
        int64_t nt = 0;
        for (int64_t j = a; j < b; j++) {
            float v = m->data[j];
            if (nt == doc_cut && !(v > m->data[top[nt - 1]])) continue;
            int64_t i = nt < doc_cut ? nt++ : nt - 1;
            while (i > 0 && v > m->data[top[i - 1]]) {
                top[i] = top[i - 1];
                i--;
            }
            top[i] = j;
        }
        /* back to increasing term (= position) order */
        for (int64_t i = 1; i < nt; i++) {
            int64_t x = top[i], k = i;
            while (k > 0 && top[k - 1] > x) {
                top[k] = top[k - 1];
                k--;
            }
            top[k] = x;
        }
        for (int64_t i = 0; i < nt; i++, w++) {
            cx->cut_terms[w] = m->indices[top[i]];
            cx->cut_vals[w] = m->data[top[i]];
        }
    }
    free(top);
    return BI_OK;
}

/* The samples of the summary rows (derived data, rebuilt after build and load): every BI_SAMPLE-th
 * row of each list, its absolute term (the deltas summed from the list's first row; < dim, which
 * bi_load checks) and the offset of its first entry within the list (< 2^32: a list has at most
 * 65,535 blocks x 65,536 terms entries, and bi_load checks it). */
static int build_samples(bi_index *idx)
{
    idx->list_samples = xmalloc((size_t)idx->dim + 1, sizeof(int64_t));
    if (!idx->list_samples) return 0;
    int64_t ns = 0;
    for (int64_t t = 0; t < idx->dim; t++) {
        idx->list_samples[t] = ns;
        ns += (idx->list_sterms[t + 1] - idx->list_sterms[t] + BI_SAMPLE - 1) / BI_SAMPLE;
    }
    idx->list_samples[idx->dim] = ns;
    idx->ssample = xmalloc((size_t)ns, sizeof(uint16_t));
    idx->ssample_entry = xmalloc((size_t)ns, sizeof(uint32_t));
    if (!idx->ssample || !idx->ssample_entry) return 0;
    for (int64_t t = 0; t < idx->dim; t++) {
        uint32_t e = 0, term = 0;
        for (int64_t j = idx->list_sterms[t], g = idx->list_samples[t]; j < idx->list_sterms[t + 1]; j++) {
            uint32_t d = idx->srow[2 * j], c = idx->srow[2 * j + 1];
            term += c ? d : d << 8;
            if ((j - idx->list_sterms[t]) % BI_SAMPLE == 0) {
                idx->ssample[g] = (uint16_t)term;
                idx->ssample_entry[g++] = e;
            }
            e += c;
        }
    }
    return 1;
}

/* Shrinks a grown array to exactly `bytes` (so that bi_get_info's nbytes is what the index holds);
 * a failed shrink keeps the larger block.  Returns 0 only when *p is NULL and cannot be allocated. */
static int shrink(void **p, int64_t bytes)
{
    void *q = realloc(*p, bytes > 0 ? (size_t)bytes : 1);
    if (q) *p = q;
    return *p != NULL;
}

int bi_build(const bi_csr *m, const bi_build_params *p, bi_index **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = bi_check_build_params(p, err, errlen);
    if (rc) return rc;
    rc = bi_check_csr(m, "documents", err, errlen);
    if (rc) return rc;
    if ((uint64_t)m->n_rows >= (uint64_t)BI_MAX_DOCS)
        return set_err(err, errlen, BI_EINVAL, "too many documents (%lld)", (long long)m->n_rows);
    const int64_t n = m->n_rows, dim = m->dim, nnz = m->indptr[n];
    if (p->value_type == BI_VALUES_F16) {
        for (int64_t i = 0; i < nnz; i++) {
            if (fabsf(m->data[i]) > F16_MAX)
                return set_err(err, errlen, BI_EINVAL,
                               "weight %g does not fit in float16 (|w| <= 65504); build with value_type f32",
                               (double)m->data[i]);
        }
    }

    bi_index *idx = xcalloc(1, sizeof(bi_index));
    if (!idx) return ENOMEM_RET(err, errlen);
    idx->n_docs = n;
    idx->dim = dim;
    idx->nnz = nnz;
    idx->params = *p;

    build_ctx cx;
    memset(&cx, 0, sizeof cx);
    build_out bo;
    memset(&bo, 0, sizeof bo);
    posting_t *post = NULL;
    int64_t *start = NULL, *len = NULL;

    /* forward index */
    idx->fwd_offsets = xmalloc((size_t)n + 1, sizeof(int64_t));
    idx->fwd_terms = xcalloc((size_t)nnz + BI_PAD, sizeof(uint16_t));
    if (p->value_type == BI_VALUES_F16) idx->fwd_f16 = xcalloc((size_t)nnz + BI_PAD, sizeof(uint16_t));
    else idx->fwd_f32 = xcalloc((size_t)nnz + BI_PAD, sizeof(float));
    if (!idx->fwd_offsets || !idx->fwd_terms || (!idx->fwd_f16 && !idx->fwd_f32)) goto nomem;
    memcpy(idx->fwd_offsets, m->indptr, ((size_t)n + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < nnz; i++) idx->fwd_terms[i] = (uint16_t)m->indices[i];
    if (idx->fwd_f16) {
        for (int64_t i = 0; i < nnz; i++) idx->fwd_f16[i] = f32_to_f16(m->data[i]);
    } else {
        memcpy(idx->fwd_f32, m->data, (size_t)nnz * sizeof(float));
    }

    /* every posting, grouped by term, documents ascending */
    start = xcalloc((size_t)dim + 1, sizeof(int64_t));
    len = xcalloc((size_t)dim, sizeof(int64_t));
    post = xmalloc((size_t)nnz, sizeof(posting_t));
    if (!start || !len || !post) goto nomem;
    for (int64_t i = 0; i < nnz; i++) start[m->indices[i] + 1]++;
    for (int64_t t = 0; t < dim; t++) start[t + 1] += start[t];
    for (int64_t t = 0; t < dim; t++) len[t] = start[t];
    for (int64_t d = 0; d < n; d++) {
        for (int64_t j = m->indptr[d]; j < m->indptr[d + 1]; j++) {
            int64_t at = len[m->indices[j]]++;
            post[at].value = m->data[j];
            post[at].doc = (uint32_t)d;
        }
    }
    rc = prune_lists(p, dim, nnz, post, start, len, err, errlen);
    if (rc) goto fail;

    int64_t total_postings = 0, max_len = 0;
    for (int64_t t = 0; t < dim; t++) {
        total_postings += len[t];
        if (len[t] > max_len) max_len = len[t];
    }
    if (total_postings > BI_MAX_POSTINGS) {
        rc = set_err(err, errlen, BI_EINVAL,
                     "the pruned posting lists hold %lld entries, more than the %lld this index addresses "
                     "(uint32 offsets): lower n_postings",
                     (long long)total_postings, (long long)BI_MAX_POSTINGS);
        goto fail;
    }
    idx->n_postings = total_postings;
    idx->docs = xmalloc((size_t)total_postings, sizeof(uint32_t));
    idx->list_blocks = xmalloc((size_t)dim + 1, sizeof(int64_t));
    idx->list_sterms = xmalloc((size_t)dim + 1, sizeof(int64_t));
    idx->list_entries = xmalloc((size_t)dim + 1, sizeof(int64_t));
    idx->list_blk_off = xmalloc((size_t)dim + 1, sizeof(int64_t));
    if (!idx->docs || !idx->list_blocks || !idx->list_sterms || !idx->list_entries || !idx->list_blk_off)
        goto nomem;

    /* build scratch */
    cx.dim = dim;
    cx.indptr = m->indptr;
    cx.indices = m->indices;
    cx.data = m->data;
    rc = build_cut_vectors(&cx, m, p->doc_cut, err, errlen);
    if (rc) goto fail;
    cx.slot = xmalloc((size_t)dim, sizeof(int32_t));
    cx.touched = xmalloc((size_t)dim, sizeof(int32_t));
    cx.ci_start = xmalloc((size_t)dim + 1, sizeof(int64_t));
    cx.smax = xcalloc((size_t)dim, sizeof(float));
    cx.sepoch = xcalloc((size_t)dim, sizeof(uint32_t));
    size_t lc = (size_t)max_len + 2;
    cx.list_cap = lc;
    cx.pos = xmalloc(lc, sizeof(uint32_t));
    cx.assign = xmalloc(lc, sizeof(uint32_t));
    cx.csize = xmalloc(lc, sizeof(int64_t));
    cx.allowed = xmalloc(lc, sizeof(uint8_t));
    cx.score = xmalloc(lc, sizeof(float));
    cx.cfirst = xmalloc(lc + 1, sizeof(int64_t));
    cx.cluster_block = xmalloc(lc, sizeof(uint32_t));
    cx.ordered = xmalloc(lc, sizeof(uint32_t));
    cx.tmp_docs = xmalloc(lc, sizeof(uint32_t));
    cx.bounds1 = xmalloc(lc + 1, sizeof(int64_t));
    if (!cx.slot || !cx.touched || !cx.ci_start || !cx.smax || !cx.sepoch || !cx.pos || !cx.assign || !cx.csize ||
        !cx.allowed || !cx.score || !cx.cfirst || !cx.cluster_block || !cx.ordered || !cx.tmp_docs || !cx.bounds1)
        goto nomem;
    for (int64_t t = 0; t < dim; t++) cx.slot[t] = -1;

    int64_t docs_base = 0, max_blocks = 0;
    for (int64_t t = 0; t < dim; t++) {
        idx->list_blocks[t] = bo.n_blocks;
        idx->list_sterms[t] = bo.n_sterms;
        idx->list_entries[t] = bo.n_sentries;
        idx->list_blk_off[t] = bo.n_blk_bytes;
        if (len[t] == 0) continue;
        rc = build_list(&cx, p, t, post + start[t], len[t], idx->docs + docs_base, docs_base, &bo, &max_blocks, err,
                        errlen);
        if (rc) goto fail;
        docs_base += len[t];
    }
    idx->list_blocks[dim] = bo.n_blocks;
    idx->list_sterms[dim] = bo.n_sterms;
    idx->list_entries[dim] = bo.n_sentries;
    idx->list_blk_off[dim] = bo.n_blk_bytes;
    idx->max_blocks_per_list = max_blocks;

    /* the grown arrays, trimmed to their sizes */
    if (!shrink((void **)&bo.block_docs, (bo.n_blocks + 1) * 4) || !shrink((void **)&bo.bmin, bo.n_blocks * 2) ||
        !shrink((void **)&bo.bstep, bo.n_blocks * 2) || !shrink((void **)&bo.srow, bo.n_sterms * 2) ||
        !shrink((void **)&bo.sentry_blk, bo.n_blk_bytes) ||
        !shrink((void **)&bo.sentry_code, (bo.n_sentries + 1) / 2))
        goto nomem;
    if (bo.n_blocks == 0) bo.block_docs[0] = 0;
    idx->n_blocks = bo.n_blocks;
    idx->block_docs = bo.block_docs;
    bo.block_docs = NULL;
    idx->block_min = bo.bmin;
    bo.bmin = NULL;
    idx->block_step = bo.bstep;
    bo.bstep = NULL;
    idx->n_sterms = bo.n_sterms;
    idx->srow = bo.srow;
    bo.srow = NULL;
    idx->n_sentries = bo.n_sentries;
    idx->n_blk_bytes = bo.n_blk_bytes;
    idx->sentry_blk = bo.sentry_blk;
    bo.sentry_blk = NULL;
    idx->sentry_code = bo.sentry_code;
    bo.sentry_code = NULL;
    if (!build_samples(idx)) goto nomem;
    build_ctx_free(&cx);
    free(post);
    free(start);
    free(len);
    *out = idx;
    return BI_OK;

nomem:
    rc = ENOMEM_RET(err, errlen);
fail:
    build_ctx_free(&cx);
    free(bo.block_docs);
    free(bo.bmin);
    free(bo.bstep);
    free(bo.srow);
    free(bo.sentry_blk);
    free(bo.sentry_code);
    free(post);
    free(start);
    free(len);
    bi_free(idx);
    return rc;
}

/* ============================================================================================ */
/* Facts and introspection                                                                      */
/* ============================================================================================ */

static int64_t value_size(const bi_index *idx)
{
    return idx->params.value_type == BI_VALUES_F16 ? 2 : 4;
}

static int64_t index_nbytes(const bi_index *idx);

void bi_get_info(const bi_index *idx, bi_info *info)
{
    info->n_docs = idx->n_docs;
    info->dim = idx->dim;
    info->nnz = idx->nnz;
    info->n_postings_total = idx->n_postings;
    info->n_blocks = idx->n_blocks;
    info->n_summary_entries = idx->n_sentries;
    info->max_blocks_per_list = idx->max_blocks_per_list;
    info->params = idx->params;
    info->nbytes = index_nbytes(idx);
}

static int check_term(const bi_index *idx, int64_t term, char *err, size_t errlen)
{
    if (term < 0 || term >= idx->dim)
        return set_err(err, errlen, BI_EINVAL, "term %lld is outside [0, %lld)", (long long)term,
                       (long long)idx->dim);
    return BI_OK;
}

int bi_list_sizes(const bi_index *idx, int64_t term, int64_t *n_blocks, int64_t *n_postings,
                  int64_t *n_summary_entries, char *err, size_t errlen)
{
    int rc = check_term(idx, term, err, errlen);
    if (rc) return rc;
    int64_t b0 = idx->list_blocks[term], b1 = idx->list_blocks[term + 1];
    *n_blocks = b1 - b0;
    *n_postings = idx->block_docs[b1] - idx->block_docs[b0];
    *n_summary_entries = idx->list_entries[term + 1] - idx->list_entries[term];
    return BI_OK;
}

int bi_list_blocks(const bi_index *idx, int64_t term, int64_t *block_offsets, int64_t *doc_ids,
                   int64_t *summary_offsets, int32_t *summary_terms, uint8_t *summary_codes, float *summary_min,
                   float *summary_step, char *err, size_t errlen)
{
    int rc = check_term(idx, term, err, errlen);
    if (rc) return rc;
    int64_t b0 = idx->list_blocks[term], nb = idx->list_blocks[term + 1] - b0;
    int64_t p0 = idx->block_docs[b0];
    for (int64_t b = 0; b <= nb; b++) block_offsets[b] = idx->block_docs[b0 + b] - p0;
    for (int64_t i = 0; i < block_offsets[nb]; i++) doc_ids[i] = idx->docs[p0 + i];
    for (int64_t b = 0; b < nb; b++) {
        summary_min[b] = bf16_to_f32(idx->block_min[b0 + b]);
        summary_step[b] = bf16_to_f32(idx->block_step[b0 + b]);
    }
    /* invert the inverted summaries back to one CSR row per block (terms ascending) */
    int64_t s0 = idx->list_sterms[term], s1 = idx->list_sterms[term + 1];
    int64_t e0 = idx->list_entries[term], ne = idx->list_entries[term + 1] - e0;
    const uint8_t *blk = idx->sentry_blk + idx->list_blk_off[term];
    const int64_t w = blk_width(nb);
    for (int64_t b = 0; b <= nb; b++) summary_offsets[b] = 0;
    for (int64_t e = 0; e < ne; e++) summary_offsets[blk_at(blk, w, e) + 1]++;
    for (int64_t b = 0; b < nb; b++) summary_offsets[b + 1] += summary_offsets[b];
    for (int64_t j = s0, e = 0, u = 0; j < s1; j++) {
        int64_t d = idx->srow[2 * j], c = idx->srow[2 * j + 1];
        u += c ? d : d << 8; /* an entry row adds its delta, a skip row (no entries) 256 times it */
        for (int64_t e1 = e + c; e < e1; e++) {
            int64_t at = summary_offsets[blk_at(blk, w, e)]++;
            summary_terms[at] = (int32_t)u;
            summary_codes[at] = code_at(idx->sentry_code, e0 + e);
        }
    }
    for (int64_t b = nb; b > 0; b--) summary_offsets[b] = summary_offsets[b - 1];
    summary_offsets[0] = 0;
    return BI_OK;
}

int bi_doc_size(const bi_index *idx, int64_t doc, int64_t *n, char *err, size_t errlen)
{
    if (doc < 0 || doc >= idx->n_docs)
        return set_err(err, errlen, BI_EINVAL, "document %lld is outside [0, %lld)", (long long)doc,
                       (long long)idx->n_docs);
    *n = idx->fwd_offsets[doc + 1] - idx->fwd_offsets[doc];
    return BI_OK;
}

int bi_doc_vector(const bi_index *idx, int64_t doc, int32_t *terms, float *values, char *err, size_t errlen)
{
    int64_t n = 0;
    int rc = bi_doc_size(idx, doc, &n, err, errlen);
    if (rc) return rc;
    int64_t o = idx->fwd_offsets[doc];
    for (int64_t i = 0; i < n; i++) {
        terms[i] = idx->fwd_terms[o + i];
        values[i] = idx->fwd_f16 ? f16_to_f32(idx->fwd_f16[o + i]) : idx->fwd_f32[o + i];
    }
    return BI_OK;
}

/* ============================================================================================ */
/* Search                                                                                       */
/* ============================================================================================ */

/* A candidate block of a query: its summary score and its position `seq` in the query's
 * candidate list ((list rank, block) order), packed into one integer whose order is the visiting
 * order: higher score first, then smaller seq.  The score's bits are mapped to an unsigned integer
 * of the same order (negative floats reversed; -0.0 is first turned into +0.0). */
typedef uint64_t cand_t;

static inline cand_t cand_key(float score, uint32_t seq)
{
    float f = score + 0.0f; /* -0.0 -> +0.0 */
    uint32_t b;
    memcpy(&b, &f, 4);
    b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    return ((uint64_t)b << 32) | (uint32_t)~seq;
}

static inline uint32_t cand_seq(cand_t c)
{
    return ~(uint32_t)c;
}

static inline float cand_score(cand_t c)
{
    uint32_t b = (uint32_t)(c >> 32);
    b = (b & 0x80000000u) ? (b & 0x7fffffffu) : ~b;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

struct bi_searcher {
    const bi_index *idx;
    float *q;             /* dim: the query, scattered; zero elsewhere */
    uint32_t *visited;    /* n_docs: visited[d] == epoch <=> d already scored in this query */
    uint32_t epoch;
    int64_t cap_k, cap_cut, cap_cand;
    float *heap_score;    /* top-k min-heap: the worst kept result at the root */
    uint32_t *heap_id;
    int64_t heap_n;
    float *acc;           /* max_blocks_per_list: summary scores of one posting list */
    cand_t *cand;         /* candidate blocks of the query (max-heap while visiting) */
    uint32_t *cand_block; /* global block number of candidate seq */
    int32_t *cut_terms;   /* the query_cut largest query terms, by decreasing weight */
    float *cut_vals;
    int64_t *pos;         /* nnz of the query: sample positions, then first rows / entries of the matches */
    int64_t *match;       /* query-term index of each matched summary term of one list */
    int64_t *mend;        /* last row, then end entry, of each matched summary term */
    size_t cap_q;
    uint32_t *todo;       /* the not-yet-scored documents of one block */
    float *dacc;          /* n_docs, candidates mode: estimated score of each touched document */
    cand_t *tkeys;        /* candidates mode: (estimate, document) of the touched documents */
    uint32_t *tdocs;      /* candidates mode: the touched documents, then the chosen candidates */
    int64_t cap_touch;    /* capacity of tkeys and tdocs */
    int64_t max_list_postings;
    int64_t prefetch;     /* documents prefetched ahead while scoring a block */
    bi_stats stats;
    int avx2;             /* the AVX2/FMA/F16C kernel is available */
    int force_scalar;
};

int bi_searcher_new(const bi_index *idx, bi_searcher **out, char *err, size_t errlen)
{
    *out = NULL;
    bi_searcher *s = xcalloc(1, sizeof(bi_searcher));
    if (!s) return ENOMEM_RET(err, errlen);
    s->idx = idx;
    s->q = xcalloc((size_t)idx->dim + BI_PAD, sizeof(float));
    s->visited = xcalloc((size_t)idx->n_docs, sizeof(uint32_t));
    s->acc = xmalloc((size_t)idx->max_blocks_per_list + 1, sizeof(float));
    int64_t max_block = 0;
    for (int64_t b = 0; b < idx->n_blocks; b++) {
        int64_t len = idx->block_docs[b + 1] - idx->block_docs[b];
        if (len > max_block) max_block = len;
    }
    s->todo = xmalloc((size_t)max_block + 1, sizeof(uint32_t));
    s->dacc = xmalloc((size_t)idx->n_docs + 1, sizeof(float));
    for (int64_t t = 0; t < idx->dim; t++) {
        int64_t len = (int64_t)idx->block_docs[idx->list_blocks[t + 1]] - idx->block_docs[idx->list_blocks[t]];
        if (len > s->max_list_postings) s->max_list_postings = len;
    }
    s->prefetch = 2;
    if (!s->q || !s->visited || !s->acc || !s->todo || !s->dacc) {
        bi_searcher_free(s);
        return ENOMEM_RET(err, errlen);
    }
#if BI_X86
    __builtin_cpu_init();
    s->avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
    int rc = bi_searcher_reserve(s, 10, 10, err, errlen);
    if (rc) {
        bi_searcher_free(s);
        return rc;
    }
    *out = s;
    return BI_OK;
}

void bi_searcher_free(bi_searcher *s)
{
    if (!s) return;
    free(s->q);
    free(s->visited);
    free(s->heap_score);
    free(s->heap_id);
    free(s->acc);
    free(s->cand);
    free(s->cand_block);
    free(s->cut_terms);
    free(s->cut_vals);
    free(s->pos);
    free(s->match);
    free(s->mend);
    free(s->todo);
    free(s->dacc);
    free(s->tkeys);
    free(s->tdocs);
    free(s);
}

int bi_searcher_reserve(bi_searcher *s, int64_t k, int64_t query_cut, char *err, size_t errlen)
{
    if (k < 1 || query_cut < 1) return set_err(err, errlen, BI_EINVAL, "k and query_cut must be >= 1");
    if (query_cut > s->idx->dim) query_cut = s->idx->dim; /* a query has at most dim terms */
    if (k > s->cap_k) {
        float *hs = realloc(s->heap_score, (size_t)k * sizeof(float));
        if (hs) s->heap_score = hs;
        uint32_t *hi = realloc(s->heap_id, (size_t)k * sizeof(uint32_t));
        if (hi) s->heap_id = hi;
        if (!hs || !hi) return ENOMEM_RET(err, errlen);
        s->cap_k = k;
    }
    if (query_cut > s->cap_cut) {
        int32_t *ct = realloc(s->cut_terms, (size_t)query_cut * sizeof(int32_t));
        if (ct) s->cut_terms = ct;
        float *cv = realloc(s->cut_vals, (size_t)query_cut * sizeof(float));
        if (cv) s->cut_vals = cv;
        if (!ct || !cv) return ENOMEM_RET(err, errlen);
        s->cap_cut = query_cut;
    }
    /* the lists of one query are distinct: at most n_blocks candidates in all */
    int64_t nc = s->idx->max_blocks_per_list;
    nc = (query_cut > 0 && nc > s->idx->n_blocks / query_cut) ? s->idx->n_blocks : nc * query_cut;
    if (nc > s->idx->n_blocks) nc = s->idx->n_blocks;
    if (nc > s->cap_cand || !s->cand) {
        cand_t *c = realloc(s->cand, ((size_t)nc + 1) * sizeof(cand_t));
        if (c) s->cand = c;
        uint32_t *cb = realloc(s->cand_block, ((size_t)nc + 1) * sizeof(uint32_t));
        if (cb) s->cand_block = cb;
        if (!c || !cb) return ENOMEM_RET(err, errlen);
        s->cap_cand = nc;
    }
    /* candidates mode: the documents of query_cut distinct lists, at most n_docs */
    int64_t mlp = s->max_list_postings > 0 ? s->max_list_postings : 1;
    int64_t nt = query_cut > s->idx->n_docs / mlp ? s->idx->n_docs : query_cut * mlp;
    if (nt > s->cap_touch || !s->tkeys) {
        cand_t *tk = realloc(s->tkeys, ((size_t)nt + 1) * sizeof(cand_t));
        if (tk) s->tkeys = tk;
        uint32_t *td = realloc(s->tdocs, ((size_t)nt + 1) * sizeof(uint32_t));
        if (td) s->tdocs = td;
        if (!tk || !td) return ENOMEM_RET(err, errlen);
        s->cap_touch = nt;
    }
    return BI_OK;
}

void bi_searcher_stats(const bi_searcher *s, bi_stats *out)
{
    *out = s->stats;
}

void bi_searcher_reset_stats(bi_searcher *s)
{
    memset(&s->stats, 0, sizeof s->stats);
}

const char *bi_searcher_kernel(const bi_searcher *s)
{
    return (s->avx2 && !s->force_scalar) ? "avx2" : "scalar";
}

void bi_searcher_force_scalar(bi_searcher *s, int force)
{
    s->force_scalar = force != 0;
}

void bi_searcher_set_prefetch(bi_searcher *s, int64_t docs_ahead)
{
    s->prefetch = docs_ahead < 0 ? 0 : docs_ahead;
}

/* Grows the per-query-term scratch to hold nnz terms (called before a search, never inside it). */
static int reserve_query(bi_searcher *s, int64_t nnz)
{
    size_t cap = s->cap_q;
    if ((size_t)nnz <= cap && s->pos) return 1;
    if (!grow((void **)&s->pos, &cap, (size_t)nnz + 1, sizeof(int64_t))) return 0;
    int64_t *m = realloc(s->match, cap * sizeof(int64_t));
    if (!m) return 0;
    s->match = m;
    int64_t *e = realloc(s->mend, cap * sizeof(int64_t));
    if (!e) return 0;
    s->mend = e;
    s->cap_q = cap;
    return 1;
}

/* --- top-k heap: min-heap on (score, -id), i.e. the worst result at the root -------------- */

static inline int worse(float sa, uint32_t ia, float sb, uint32_t ib)
{
    return sa < sb || (sa == sb && ia > ib);
}

static inline void heap_sift_down(float *hs, uint32_t *hi, int64_t n, int64_t i, float sc, uint32_t id)
{
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && worse(hs[c + 1], hi[c + 1], hs[c], hi[c])) c++;
        if (!worse(hs[c], hi[c], sc, id)) break;
        hs[i] = hs[c];
        hi[i] = hi[c];
        i = c;
    }
    hs[i] = sc;
    hi[i] = id;
}

/* Offers a scored document to the top-k heap. */
static inline void heap_offer(bi_searcher *s, int64_t k, float sc, uint32_t id)
{
    float *hs = s->heap_score;
    uint32_t *hi = s->heap_id;
    int64_t n = s->heap_n;
    if (n < k) {
        int64_t i = n;
        while (i > 0) {
            int64_t p = (i - 1) / 2;
            if (!worse(sc, id, hs[p], hi[p])) break;
            hs[i] = hs[p];
            hi[i] = hi[p];
            i = p;
        }
        hs[i] = sc;
        hi[i] = id;
        s->heap_n = n + 1;
        return;
    }
    if (worse(sc, id, hs[0], hi[0])) return;
    heap_sift_down(hs, hi, n, 0, sc, id);
}

/* --- candidate blocks: max-heap on the packed key (branchless child choice) ---------------- */

static inline void cand_sift_down(cand_t *h, int64_t n, int64_t i)
{
    cand_t x = h[i];
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n) c += h[c + 1] > h[c];
        if (h[c] <= x) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* --- exact document scores: inner product of a forward-index row with the dense query ------ */

static inline float dot_scalar_f32(const uint16_t *t, const float *v, int64_t n, const float *q)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += q[t[i]] * v[i];
        s1 += q[t[i + 1]] * v[i + 1];
        s2 += q[t[i + 2]] * v[i + 2];
        s3 += q[t[i + 3]] * v[i + 3];
    }
    for (; i < n; i++) s0 += q[t[i]] * v[i];
    return (s0 + s1) + (s2 + s3);
}

static inline float dot_scalar_f16(const uint16_t *t, const uint16_t *v, int64_t n, const float *q)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += q[t[i]] * f16_to_f32(v[i]);
        s1 += q[t[i + 1]] * f16_to_f32(v[i + 1]);
        s2 += q[t[i + 2]] * f16_to_f32(v[i + 2]);
        s3 += q[t[i + 3]] * f16_to_f32(v[i + 3]);
    }
    for (; i < n; i++) s0 += q[t[i]] * f16_to_f32(v[i]);
    return (s0 + s1) + (s2 + s3);
}

#if BI_X86
#define BI_AVX2 __attribute__((target("avx2,fma,f16c")))

BI_AVX2 static inline float hsum256(__m256 a)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* 8 query weights gathered by the 8 term ids at t (uint16, widened), lanes >= m masked to 0.
 * Reads 8 term ids even near the end of a row: the arrays are padded (BI_PAD). */
BI_AVX2 static inline __m256 gather_q(const float *q, const uint16_t *t)
{
    __m256i ix = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)t));
    return _mm256_i32gather_ps(q, ix, 4);
}

BI_AVX2 static inline __m256 gather_q_masked(const float *q, const uint16_t *t, __m256i mask)
{
    __m256i ix = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)t));
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), q, ix, _mm256_castsi256_ps(mask), 4);
}

BI_AVX2 static inline __m256i tail_mask(int64_t r)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

BI_AVX2 static inline float dot_avx2_f32(const uint16_t *t, const float *v, int64_t n, const float *q)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(gather_q(q, t + i), _mm256_loadu_ps(v + i), a0);
        a1 = _mm256_fmadd_ps(gather_q(q, t + i + 8), _mm256_loadu_ps(v + i + 8), a1);
    }
    if (i + 8 <= n) {
        a0 = _mm256_fmadd_ps(gather_q(q, t + i), _mm256_loadu_ps(v + i), a0);
        i += 8;
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        a1 = _mm256_fmadd_ps(gather_q_masked(q, t + i, m), _mm256_maskload_ps(v + i, m), a1);
    }
    return hsum256(_mm256_add_ps(a0, a1));
}

BI_AVX2 static inline __m256 load_f16(const uint16_t *v)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)v));
}

BI_AVX2 static inline float dot_avx2_f16(const uint16_t *t, const uint16_t *v, int64_t n, const float *q)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(gather_q(q, t + i), load_f16(v + i), a0);
        a1 = _mm256_fmadd_ps(gather_q(q, t + i + 8), load_f16(v + i + 8), a1);
    }
    if (i + 8 <= n) {
        a0 = _mm256_fmadd_ps(gather_q(q, t + i), load_f16(v + i), a0);
        i += 8;
    }
    if (i < n) {
        /* masked lanes gather 0; the weights read past the row are finite (or padding zeros) */
        __m256i m = tail_mask(n - i);
        a1 = _mm256_fmadd_ps(gather_q_masked(q, t + i, m), load_f16(v + i), a1);
    }
    return hsum256(_mm256_add_ps(a0, a1));
}
#endif

/* Prefetches a forward-index row (terms and weights, every cache line). */
static inline void prefetch_row(const int64_t *off, const uint16_t *terms, const void *vals, size_t vsize,
                                uint32_t doc)
{
    int64_t o0 = off[doc], o1 = off[doc + 1];
    const char *p = (const char *)(terms + o0), *e = (const char *)(terms + o1);
    for (p = (const char *)((uintptr_t)p & ~(uintptr_t)63); p < e; p += 64) __builtin_prefetch(p);
    p = (const char *)vals + (size_t)o0 * vsize;
    e = (const char *)vals + (size_t)o1 * vsize;
    for (p = (const char *)((uintptr_t)p & ~(uintptr_t)63); p < e; p += 64) __builtin_prefetch(p);
}

/* Scores documents todo[0 .. n) exactly (prefetching the rows of the next `prefetch` documents)
 * and offers them to the top-k heap; visits block b: its documents not yet scored in this query
 * are marked and scored.  One pair per kernel (value type x instruction set). */
#define BI_DEFINE_KERNEL(NAME, ATTR, VT, VALUES, DOT)                                                 \
    ATTR static inline void NAME##_score(const bi_index *idx, bi_searcher *s, const uint32_t *todo,   \
                                         int64_t n, int64_t k)                                        \
    {                                                                                                 \
        const int64_t *off = idx->fwd_offsets;                                                        \
        const uint16_t *terms = idx->fwd_terms;                                                       \
        const VT *vals = VALUES;                                                                      \
        int64_t pf = s->prefetch;                                                                     \
        for (int64_t i = 0; i < n && i < pf; i++) prefetch_row(off, terms, vals, sizeof(VT), todo[i]); \
        for (int64_t i = 0; i < n; i++) {                                                             \
            if (i + pf < n) prefetch_row(off, terms, vals, sizeof(VT), todo[i + pf]);                 \
            uint32_t doc = todo[i];                                                                   \
            int64_t o0 = off[doc], o1 = off[doc + 1];                                                 \
            heap_offer(s, k, DOT(terms + o0, vals + o0, o1 - o0, s->q), doc);                         \
        }                                                                                             \
        s->stats.docs += n;                                                                           \
    }                                                                                                 \
    ATTR static void NAME##_visit(const bi_index *idx, bi_searcher *s, int64_t b, int64_t k)          \
    {                                                                                                 \
        const uint32_t *d = idx->docs + idx->block_docs[b], *end = idx->docs + idx->block_docs[b + 1]; \
        uint32_t *visited = s->visited, epoch = s->epoch, *todo = s->todo;                            \
        int64_t n = 0;                                                                                \
        for (; d < end; d++) {                                                                        \
            uint32_t doc = *d;                                                                        \
            if (visited[doc] != epoch) {                                                              \
                visited[doc] = epoch;                                                                 \
                todo[n++] = doc;                                                                      \
            }                                                                                         \
        }                                                                                             \
        NAME##_score(idx, s, todo, n, k);                                                             \
    }

BI_DEFINE_KERNEL(scalar_f32, , float, idx->fwd_f32, dot_scalar_f32)
BI_DEFINE_KERNEL(scalar_f16, , uint16_t, idx->fwd_f16, dot_scalar_f16)
#if BI_X86
BI_DEFINE_KERNEL(avx2_f32, BI_AVX2, float, idx->fwd_f32, dot_avx2_f32)
BI_DEFINE_KERNEL(avx2_f16, BI_AVX2, uint16_t, idx->fwd_f16, dot_avx2_f16)
#endif

typedef struct kernel {
    void (*visit)(const bi_index *, bi_searcher *, int64_t, int64_t);
    void (*score)(const bi_index *, bi_searcher *, const uint32_t *, int64_t, int64_t);
} kernel;

static kernel pick_kernel(const bi_index *idx, const bi_searcher *s)
{
    int f16 = idx->fwd_f16 != NULL;
#if BI_X86
    if (s->avx2 && !s->force_scalar)
        return f16 ? (kernel){avx2_f16_visit, avx2_f16_score} : (kernel){avx2_f32_visit, avx2_f32_score};
#else
    (void)s;
#endif
    return f16 ? (kernel){scalar_f16_visit, scalar_f16_score} : (kernel){scalar_f32_visit, scalar_f32_score};
}

/* First position in a[lo, hi) whose value is >= x (branchless binary search). */
static inline int64_t lower_bound_u16(const uint16_t *a, int64_t lo, int64_t hi, uint16_t x)
{
    int64_t n = hi - lo;
    if (n <= 0) return lo;
    const uint16_t *base = a + lo;
    while (n > 1) {
        int64_t half = n / 2;
        base = (base[half] < x) ? base + half : base;
        n -= half;
    }
    return (base - a) + (*base < x);
}

/* Finds every query term among the list's summary rows: a branchless binary search over
 * the list's samples (every BI_SAMPLE-th row's absolute term; small, usually cached)
 * advanced level by level for all query terms together, for the last sample below the term
 * (or the first one), then a scan of that chunk's rows (prefetched for all terms first)
 * from the sample's term and entry offset, adding deltas and counts, to the first row whose
 * term is >= the query term: within BI_SAMPLE + 1 rows, since the next sample is >= the
 * term.  A term with more than BI_ROW_MAX entries has several consecutive rows (delta 0,
 * possibly into the next chunks), all gathered.
 * Fills s->match[m] (query-term index), s->pos[m] and s->mend[m] (first and end entry, relative
 * to the list's first entry) for the nm matched terms, in increasing term order; returns nm. */
static int64_t match_terms(const bi_index *idx, bi_searcher *s, int32_t t, int64_t nb, const int32_t *terms,
                           const float *values, int64_t nnz)
{
    const uint8_t *row = idx->srow;
    const uint32_t *sent = idx->ssample_entry + idx->list_samples[t];
    int64_t j0 = idx->list_sterms[t], j1 = idx->list_sterms[t + 1];
    int64_t *pos = s->pos, *mend = s->mend, nm = 0;
    const uint8_t *eb = idx->sentry_blk + idx->list_blk_off[t];
    /* codes by global entry index (two per byte: a list may start in a byte's high nibble) */
    const uint8_t *ec = idx->sentry_code;
    const int64_t le = idx->list_entries[t];
    const int64_t w = blk_width(nb);
    if (j1 > j0) {
        const uint16_t *smp = idx->ssample + idx->list_samples[t];
        int64_t ns = idx->list_samples[t + 1] - idx->list_samples[t];
        for (int64_t i = 0; i < nnz; i++) pos[i] = 0;
        for (int64_t n = ns; n > 1;) { /* last sample < term (or 0) */
            int64_t half = n / 2;
            for (int64_t i = 0; i < nnz; i++)
                pos[i] += half & -(int64_t)(smp[pos[i] + half] < (uint16_t)terms[i]);
            n -= half;
        }
        for (int64_t i = 0; i < nnz; i++) { /* the chunk's 64 bytes and the next row */
            const uint8_t *c = row + 2 * (j0 + pos[i] * BI_SAMPLE);
            __builtin_prefetch(c);
            __builtin_prefetch(c + 2 * BI_SAMPLE);
            __builtin_prefetch(sent + pos[i]);
        }
        for (int64_t i = 0; i < nnz; i++) {
            uint32_t u = (uint16_t)terms[i], term = smp[pos[i]];
            if (term > u || values[i] == 0.0f) continue; /* below the list's first summary term */
            int64_t j = j0 + pos[i] * BI_SAMPLE, e = sent[pos[i]];
            while (term < u) { /* rows below u: their entries come first */
                e += row[2 * j + 1];
                if (++j == j1) break;
                uint32_t d = row[2 * j];
                term += row[2 * j + 1] ? d : d << 8;
            }
            if (term != u) continue;
            int64_t e0 = e;
            do e += row[2 * j + 1]; /* the rows of u (a skip row landing on u adds nothing) */
            while (++j < j1 && row[2 * j] == 0);
            if (e == e0) continue;
            s->match[nm] = i;
            pos[nm] = e0; /* nm <= i: overwrites only consumed positions */
            mend[nm++] = e;
            __builtin_prefetch(eb + w * e0);
            __builtin_prefetch(ec + ((le + e0) >> 1));
        }
    }
    return nm;
}

/* Puts the c largest keys of a[0 .. n) first (in no particular order): quickselect, Hoare
 * partition around the median of three.  Keys are distinct (they carry a document id). */
static void select_largest(cand_t *a, int64_t n, int64_t c)
{
    int64_t lo = 0, hi = n - 1, want = c - 1;
    while (hi > lo) {
        cand_t x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        cand_t pivot = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) {
                cand_t tmp = a[i];
                a[i++] = a[j];
                a[j--] = tmp;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break; /* a[j + 1 .. i) equal the pivot: want is in place */
    }
}

/* Candidates mode (score-at-a-time over block maxima, then exact re-scoring).  For each of the
 * query_cut lists (term t, query weight q_t), every document d of every block b of the list gets
 * q_t * s_b(t), where s_b(t) is b's summary weight of t: the block's (quantized) maximum of t, an
 * upper estimate of d's own weight for t — every summary keeps its list's term (the build's
 * rule), and a block whose summary lacks it (an index built before the rule) counts its smallest
 * kept summary weight, which bounds what the energy cut dropped.  The estimates are summed per
 * document over the lists (documents in several of the query's lists rise), the `candidates`
 * documents with the largest sums are scored exactly through the forward index, and the best k
 * of them are returned.  This suits flat score distributions (LIMIT-like documents of hundreds of
 * mid-weight terms) where no summary bounds a block well and the block walk scores most blocks
 * anyway: here the cost is one add per posting of the scanned lists plus `candidates` exact
 * scores.  visited[] marks the touched documents (their dacc is reset on first touch). */
static void score_at_a_time(const bi_index *idx, bi_searcher *s, kernel kern, int64_t ncut, int64_t k,
                            int64_t candidates)
{
    float *dacc = s->dacc, *own = s->acc;
    uint32_t *visited = s->visited, epoch = s->epoch, *tdocs = s->tdocs;
    int64_t nt = 0;
    const float one = 1.0f;
    for (int64_t r = 0; r < ncut; r++) {
        int32_t t = s->cut_terms[r];
        float qt = s->cut_vals[r];
        int64_t b0 = idx->list_blocks[t], nb = idx->list_blocks[t + 1] - b0;
        if (nb == 0) continue;
        const uint16_t *bmin = idx->block_min + b0, *bstep = idx->block_step + b0; /* bfloat16 */
        for (int64_t b = 0; b < nb; b++) own[b] = bf16_to_f32(bmin[b]);
        int64_t nm = match_terms(idx, s, t, nb, &t, &one, 1);
        if (nm == 1) { /* t's entries: one per block that keeps t, blocks increasing */
            const uint8_t *eb = idx->sentry_blk + idx->list_blk_off[t];
            const int64_t le = idx->list_entries[t], w = blk_width(nb);
            for (int64_t e = s->pos[0]; e < s->mend[0]; e++) {
                uint32_t blk = w == 1 ? eb[e] : ((uint32_t)eb[2 * e] | (uint32_t)eb[2 * e + 1] << 8);
                own[blk] = bf16_to_f32(bmin[blk]) + bf16_to_f32(bstep[blk]) * (float)code_at(idx->sentry_code, le + e);
            }
            s->stats.entries += s->mend[0] - s->pos[0];
        }
        for (int64_t b = 0; b < nb; b++) {
            float v = qt * own[b];
            for (uint32_t e = idx->block_docs[b0 + b], e1 = idx->block_docs[b0 + b + 1]; e < e1; e++) {
                uint32_t d = idx->docs[e];
                if (visited[d] != epoch) {
                    visited[d] = epoch;
                    dacc[d] = 0.0f;
                    tdocs[nt++] = d;
                }
                dacc[d] += v;
            }
        }
        s->stats.lists++;
        s->stats.blocks += nb;
    }
    if (nt > candidates) {
        cand_t *keys = s->tkeys;
        for (int64_t i = 0; i < nt; i++) keys[i] = cand_key(dacc[tdocs[i]], tdocs[i]);
        select_largest(keys, nt, candidates);
        for (int64_t i = 0; i < candidates; i++) tdocs[i] = cand_seq(keys[i]);
        nt = candidates;
    }
    kern.score(idx, s, tdocs, nt, k);
}

/* The block walk (steps 3-5 of the overview). */
static void block_walk(const bi_index *idx, bi_searcher *s, kernel kern, const int32_t *terms, const float *values,
                       int64_t nnz, int64_t ncut, int64_t k, float heap_factor)
{
    /* 3. summary scores of every block of the selected posting lists -> candidate blocks */
    int64_t n_cand = 0;
    for (int64_t r = 0; r < ncut; r++) {
        int32_t t = s->cut_terms[r];
        int64_t b0 = idx->list_blocks[t], nb = idx->list_blocks[t + 1] - b0;
        if (nb == 0) continue;
        float *acc = s->acc;
        memset(acc, 0, (size_t)nb * sizeof(float));
        const uint16_t *bmin = idx->block_min + b0, *bstep = idx->block_step + b0; /* bfloat16 */
        const uint8_t *eb = idx->sentry_blk + idx->list_blk_off[t];
        const uint8_t *ec = idx->sentry_code; /* codes by global entry index */
        const int64_t le = idx->list_entries[t];
        const int64_t w = blk_width(nb);
        int64_t *pos = s->pos, *mend = s->mend, nm = match_terms(idx, s, t, nb, terms, values, nnz);
        /* summary entries of the matched terms, in increasing term order; one loop per width of
         * the list's block numbers */
        if (w == 1) {
            for (int64_t m = 0; m < nm; m++) {
                float qv = values[s->match[m]];
                for (int64_t e = pos[m], e1 = mend[m]; e < e1; e++) {
                    uint32_t blk = eb[e];
                    acc[blk] += qv * (bf16_to_f32(bmin[blk]) + bf16_to_f32(bstep[blk]) * (float)code_at(ec, le + e));
                }
                s->stats.entries += mend[m] - pos[m];
            }
        } else {
            for (int64_t m = 0; m < nm; m++) {
                float qv = values[s->match[m]];
                for (int64_t e = pos[m], e1 = mend[m]; e < e1; e++) {
                    uint32_t blk = (uint32_t)eb[2 * e] | (uint32_t)eb[2 * e + 1] << 8;
                    acc[blk] += qv * (bf16_to_f32(bmin[blk]) + bf16_to_f32(bstep[blk]) * (float)code_at(ec, le + e));
                }
                s->stats.entries += mend[m] - pos[m];
            }
        }
        for (int64_t b = 0; b < nb; b++) {
            s->cand[n_cand] = cand_key(acc[b], (uint32_t)n_cand);
            s->cand_block[n_cand] = (uint32_t)(b0 + b);
            n_cand++;
        }
        s->stats.lists++;
        s->stats.summaries += nb;
    }

    /* 4-5. visit blocks by decreasing summary score; stop at the first one below
     *      heap_factor * k-th best once the heap is full.  Candidates are popped BI_AHEAD blocks
     *      before their visit (the order is unchanged) so that the memory of the coming blocks is
     *      prefetched in stages while the current one is scored: the block's offsets when it is
     *      popped, its document ids one step later, the forward rows of its documents right
     *      before its visit. */
    cand_t *h = s->cand;
    for (int64_t i = n_cand / 2; i-- > 0;) cand_sift_down(h, n_cand, i);
    int64_t n = n_cand;
    cand_t ring[BI_AHEAD];
    int64_t head = 0, queued = 0;
    const uint32_t *bd = idx->block_docs;
    for (;;) {
        while (queued < BI_AHEAD && n > 0) { /* pop ahead */
            cand_t top = h[0];
            h[0] = h[--n];
            if (n > 0) cand_sift_down(h, n, 0);
            ring[(head + queued) % BI_AHEAD] = top;
            __builtin_prefetch(bd + s->cand_block[cand_seq(top)]);
            queued++;
        }
        if (queued == 0) break;
        cand_t cur = ring[head];
        if (s->heap_n == k && heap_factor > 0 && cand_score(cur) < heap_factor * s->heap_score[0]) break;
        if (queued > 2) { /* two blocks ahead: its document ids */
            uint32_t b2 = s->cand_block[cand_seq(ring[(head + 2) % BI_AHEAD])];
            __builtin_prefetch(idx->docs + bd[b2]);
            __builtin_prefetch(idx->docs + bd[b2 + 1] - 1);
        }
        if (queued > 1) { /* next block: the rows of its documents */
            uint32_t b1 = s->cand_block[cand_seq(ring[(head + 1) % BI_AHEAD])];
            const void *vals = idx->fwd_f16 ? (const void *)idx->fwd_f16 : (const void *)idx->fwd_f32;
            size_t vsize = idx->fwd_f16 ? 2 : 4;
            int64_t e1 = bd[b1 + 1], e0 = bd[b1];
            if (e1 - e0 > BI_AHEAD_DOCS) e1 = e0 + BI_AHEAD_DOCS;
            for (int64_t e = e0; e < e1; e++) prefetch_row(idx->fwd_offsets, idx->fwd_terms, vals, vsize, idx->docs[e]);
        }
        kern.visit(idx, s, (int64_t)s->cand_block[cand_seq(cur)], k);
        s->stats.blocks++;
        head = (head + 1) % BI_AHEAD;
        queued--;
    }
}

/* One query (already checked).  Scratch must be reserved for k and min(query_cut, nnz). */
static void search_one(const bi_index *idx, bi_searcher *s, kernel kern, const int32_t *terms,
                       const float *values, int64_t nnz, const bi_query_params *qp, int64_t *out_ids,
                       float *out_scores)
{
    float *q = s->q;
    if (++s->epoch == 0) { /* epochs wrapped: clear once every 2^32 queries */
        memset(s->visited, 0, (size_t)idx->n_docs * sizeof(uint32_t));
        s->epoch = 1;
    }
    s->heap_n = 0;
    s->stats.queries++;
    const int64_t k = qp->k, query_cut = qp->query_cut, candidates = qp->candidates;
    const float heap_factor = qp->heap_factor;

    /* 1. dense query */
    for (int64_t i = 0; i < nnz; i++) q[terms[i]] = values[i];

    /* 2. query_cut largest weights (ties: smaller term), by insertion into a sorted prefix */
    int64_t ncut = 0, cut = query_cut < nnz ? query_cut : nnz;
    for (int64_t i = 0; i < nnz; i++) {
        float v = values[i];
        if (ncut == cut && !(v > s->cut_vals[ncut - 1])) continue;
        int64_t j = ncut < cut ? ncut++ : ncut - 1;
        while (j > 0 && v > s->cut_vals[j - 1]) {
            s->cut_vals[j] = s->cut_vals[j - 1];
            s->cut_terms[j] = s->cut_terms[j - 1];
            j--;
        }
        s->cut_vals[j] = v;
        s->cut_terms[j] = terms[i];
    }

    if (candidates > 0)
        score_at_a_time(idx, s, kern, ncut, k, candidates);
    else
        block_walk(idx, s, kern, terms, values, nnz, ncut, k, heap_factor);

    /* 6. results, best first */
    int64_t found = s->heap_n;
    for (int64_t i = found; i < k; i++) {
        out_ids[i] = -1;
        out_scores[i] = NAN;
    }
    while (s->heap_n > 0) { /* pop the worst into the last free place */
        int64_t last = --s->heap_n;
        out_ids[last] = s->heap_id[0];
        out_scores[last] = s->heap_score[0];
        if (last > 0) heap_sift_down(s->heap_score, s->heap_id, last, 0, s->heap_score[last], s->heap_id[last]);
    }
    for (int64_t i = 0; i < nnz; i++) q[terms[i]] = 0.0f;
}

static int check_ready(const bi_searcher *s, const bi_index *idx, const bi_query_params *qp, int64_t max_nnz,
                       char *err, size_t errlen)
{
    if (s->idx != idx) return set_err(err, errlen, BI_EINVAL, "searcher belongs to another index");
    int64_t cut = qp->query_cut < max_nnz ? qp->query_cut : max_nnz;
    if (qp->k > s->cap_k || cut > s->cap_cut)
        return set_err(err, errlen, BI_EINVAL, "searcher scratch too small (call bi_searcher_reserve)");
    return BI_OK;
}

int bi_search(const bi_index *idx, bi_searcher *s, const int32_t *terms, const float *values, int64_t nnz,
              const bi_query_params *qp, int64_t *out_ids, float *out_scores, int64_t *n_found, char *err,
              size_t errlen)
{
    int rc = bi_check_query_params(qp, err, errlen);
    if (rc) return rc;
    if (nnz < 0) return set_err(err, errlen, BI_EINVAL, "negative query length");
    for (int64_t i = 0; i < nnz; i++) {
        if (terms[i] < 0 || (int64_t)terms[i] >= idx->dim)
            return set_err(err, errlen, BI_EINVAL, "query term id %ld is outside [0, %lld)", (long)terms[i],
                           (long long)idx->dim);
        if (i > 0 && terms[i] <= terms[i - 1])
            return set_err(err, errlen, BI_EINVAL,
                           "query has %s term ids (%ld after %ld); term ids must be strictly increasing",
                           terms[i] == terms[i - 1] ? "duplicate" : "unsorted", (long)terms[i], (long)terms[i - 1]);
        if (!isfinite(values[i]))
            return set_err(err, errlen, BI_EINVAL, "query has a non-finite weight (%g) for term %ld",
                           (double)values[i], (long)terms[i]);
    }
    rc = check_ready(s, idx, qp, nnz, err, errlen);
    if (rc) return rc;
    if (!reserve_query(s, nnz)) return ENOMEM_RET(err, errlen);
    search_one(idx, s, pick_kernel(idx, s), terms, values, nnz, qp, out_ids, out_scores);
    int64_t f = 0;
    while (f < qp->k && out_ids[f] >= 0) f++;
    if (n_found) *n_found = f;
    return BI_OK;
}

int bi_search_batch(const bi_index *idx, bi_searcher *s, const bi_csr *queries, const bi_query_params *qp,
                    int64_t *out_ids, float *out_scores, char *err, size_t errlen)
{
    int rc = bi_check_query_params(qp, err, errlen);
    if (rc) return rc;
    if (queries->dim > idx->dim)
        return set_err(err, errlen, BI_EINVAL, "queries have dimension %lld but the index has %lld",
                       (long long)queries->dim, (long long)idx->dim);
    rc = bi_check_csr(queries, "queries", err, errlen);
    if (rc) return rc;
    int64_t max_nnz = 0;
    for (int64_t i = 0; i < queries->n_rows; i++) {
        int64_t len = queries->indptr[i + 1] - queries->indptr[i];
        if (len > max_nnz) max_nnz = len;
    }
    rc = check_ready(s, idx, qp, max_nnz, err, errlen);
    if (rc) return rc;
    if (!reserve_query(s, max_nnz)) return ENOMEM_RET(err, errlen);
    kernel kern = pick_kernel(idx, s);
    for (int64_t i = 0; i < queries->n_rows; i++) {
        int64_t a = queries->indptr[i], b = queries->indptr[i + 1];
        search_one(idx, s, kern, queries->indices + a, queries->data + a, b - a, qp, out_ids + i * qp->k,
                   out_scores + i * qp->k);
    }
    return BI_OK;
}

/* ============================================================================================ */
/* Save and load                                                                                */
/* ============================================================================================ */

static const char BI_MAGIC[8] = {'B', 'L', 'K', 'I', 'D', 'X', '\r', '\n'};
/* 1: summary rows with int64 entry offsets and uint16 block numbers; 2: rows of a uint16 term and a
 * uint8 count; 3: 8-bit summary codes, one per byte; 4: int64 block offsets, float32 min and step */
#define BI_FORMAT_VERSION 5u
#define BI_ENDIAN_MARK 0x01020304u
#define BI_N_HEADER_INTS 16
#define BI_N_HEADER_DOUBLES 3
#define BI_N_ARRAYS 14

/* The arrays of an index in file order, with their byte sizes. */
typedef struct {
    void **ptr;
    int64_t bytes;
} array_ref;

static void index_arrays(bi_index *idx, array_ref a[BI_N_ARRAYS])
{
    int64_t vs = value_size(idx);
    array_ref r[BI_N_ARRAYS] = {
        {(void **)&idx->fwd_offsets, (idx->n_docs + 1) * 8},
        {(void **)&idx->fwd_terms, (idx->nnz + BI_PAD) * 2},
        {idx->params.value_type == BI_VALUES_F16 ? (void **)&idx->fwd_f16 : (void **)&idx->fwd_f32,
         (idx->nnz + BI_PAD) * vs},
        {(void **)&idx->list_blocks, (idx->dim + 1) * 8},
        {(void **)&idx->block_docs, (idx->n_blocks + 1) * 4},
        {(void **)&idx->docs, idx->n_postings * 4},
        {(void **)&idx->block_min, idx->n_blocks * 2},
        {(void **)&idx->block_step, idx->n_blocks * 2},
        {(void **)&idx->list_sterms, (idx->dim + 1) * 8},
        {(void **)&idx->srow, idx->n_sterms * 2},
        {(void **)&idx->list_entries, (idx->dim + 1) * 8},
        {(void **)&idx->list_blk_off, (idx->dim + 1) * 8},
        {(void **)&idx->sentry_blk, idx->n_blk_bytes * 1},
        {(void **)&idx->sentry_code, (idx->n_sentries + 1) / 2},
    };
    memcpy(a, r, sizeof r);
}

/* Memory held by the index: the saved arrays (index_arrays) and the derived samples (build_samples),
 * i.e. every array bi_free frees, at the sizes they are allocated with. */
static int64_t index_nbytes(const bi_index *idx)
{
    array_ref a[BI_N_ARRAYS];
    index_arrays((bi_index *)idx, a); /* only the sizes are read */
    int64_t n = 0;
    for (int i = 0; i < BI_N_ARRAYS; i++) n += a[i].bytes;
    if (idx->list_samples) n += (idx->dim + 1) * 8 + idx->list_samples[idx->dim] * (2 + 4);
    return n;
}

/* 64-bit hash of the arrays (FNV-style over 8-byte words), stored at the end of the file. */
static uint64_t hash_bytes(uint64_t h, const void *p, int64_t n)
{
    const unsigned char *b = p;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001B3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

int bi_save(const bi_index *cidx, const char *path, char *err, size_t errlen)
{
    bi_index *idx = (bi_index *)cidx; /* index_arrays wants addresses; nothing is modified */
    size_t plen = strlen(path);
    char *tmp = xmalloc(plen + 16, 1);
    if (!tmp) return ENOMEM_RET(err, errlen);
    snprintf(tmp, plen + 16, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        set_err(err, errlen, BI_EIO, "cannot write %s: %s", tmp, strerror(e));
        free(tmp);
        errno = e;
        return BI_EIO;
    }
    uint32_t head[2] = {BI_FORMAT_VERSION, BI_ENDIAN_MARK};
    int64_t ints[BI_N_HEADER_INTS] = {idx->n_docs,           idx->dim,
                                      idx->nnz,              idx->n_blocks,
                                      idx->n_postings,       idx->n_sterms,
                                      idx->n_sentries,       idx->max_blocks_per_list,
                                      idx->params.n_postings, idx->params.min_cluster_size,
                                      idx->params.doc_cut,   (int64_t)idx->params.seed,
                                      idx->params.pruning,   idx->params.value_type,
                                      idx->params.max_block_size, idx->n_blk_bytes};
    double dbl[BI_N_HEADER_DOUBLES] = {idx->params.max_fraction, idx->params.centroid_fraction,
                                       idx->params.summary_energy};
    int ok = fwrite(BI_MAGIC, 1, 8, f) == 8 && fwrite(head, 4, 2, f) == 2 &&
             fwrite(ints, 8, BI_N_HEADER_INTS, f) == BI_N_HEADER_INTS &&
             fwrite(dbl, 8, BI_N_HEADER_DOUBLES, f) == BI_N_HEADER_DOUBLES;
    array_ref a[BI_N_ARRAYS];
    index_arrays(idx, a);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; ok && i < BI_N_ARRAYS; i++) {
        int64_t n = a[i].bytes;
        ok = fwrite(&n, 8, 1, f) == 1 && (n == 0 || fwrite(*a[i].ptr, 1, (size_t)n, f) == (size_t)n);
        h = hash_bytes(h, *a[i].ptr, n);
    }
    ok = ok && fwrite(&h, 8, 1, f) == 1;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        remove(tmp);
        set_err(err, errlen, BI_EIO, "cannot write %s: %s", path, strerror(e));
        free(tmp);
        errno = e;
        return BI_EIO;
    }
    free(tmp);
    return BI_OK;
}

/* Offsets array: starts at 0, never decreases, ends at `total`. */
static int check_offsets(const int64_t *o, int64_t n, int64_t total)
{
    if (o[0] != 0 || o[n] != total) return 0;
    for (int64_t i = 0; i < n; i++)
        if (o[i + 1] < o[i]) return 0;
    return 1;
}

static int check_offsets32(const uint32_t *o, int64_t n, int64_t total)
{
    if (o[0] != 0 || o[n] != (uint64_t)total) return 0;
    for (int64_t i = 0; i < n; i++)
        if (o[i + 1] < o[i]) return 0;
    return 1;
}

/* Every invariant search relies on, so a damaged file cannot make a query read out of bounds. */
static int validate_index(const bi_index *idx, char *err, size_t errlen)
{
#define BAD(what) set_err(err, errlen, BI_EFORMAT, "invalid index file: %s", what)
    if (!check_offsets(idx->fwd_offsets, idx->n_docs, idx->nnz)) return BAD("forward index offsets");
    for (int64_t d = 0; d < idx->n_docs; d++)
        for (int64_t j = idx->fwd_offsets[d]; j < idx->fwd_offsets[d + 1]; j++)
            if (idx->fwd_terms[j] >= idx->dim || (j > idx->fwd_offsets[d] && idx->fwd_terms[j] <= idx->fwd_terms[j - 1]))
                return BAD("forward index term ids");
    for (int64_t j = 0; j < idx->nnz; j++) {
        float v = idx->fwd_f16 ? f16_to_f32(idx->fwd_f16[j]) : idx->fwd_f32[j];
        if (!isfinite(v) || (idx->fwd_f16 && (idx->fwd_f16[j] & 0x7c00u) == 0x7c00u)) return BAD("forward weights");
    }
    for (int64_t j = idx->nnz; j < idx->nnz + BI_PAD; j++) {
        if (idx->fwd_terms[j] != 0 || (idx->fwd_f16 ? idx->fwd_f16[j] != 0 : idx->fwd_f32[j] != 0.0f))
            return BAD("forward index padding");
    }
    if (!check_offsets(idx->list_blocks, idx->dim, idx->n_blocks)) return BAD("posting list offsets");
    if (idx->n_postings > BI_MAX_POSTINGS || !check_offsets32(idx->block_docs, idx->n_blocks, idx->n_postings))
        return BAD("block offsets");
    if (!check_offsets(idx->list_sterms, idx->dim, idx->n_sterms)) return BAD("summary row offsets");
    if (!check_offsets(idx->list_entries, idx->dim, idx->n_sentries)) return BAD("summary entry offsets");
    if (!check_offsets(idx->list_blk_off, idx->dim, idx->n_blk_bytes)) return BAD("summary block-number offsets");
    for (int64_t i = 0; i < idx->n_postings; i++)
        if (idx->docs[i] >= (uint64_t)idx->n_docs) return BAD("document ids");
    for (int64_t b = 0; b < idx->n_blocks; b++)
        if (!isfinite(bf16_to_f32(idx->block_min[b])) || !isfinite(bf16_to_f32(idx->block_step[b])) ||
            bf16_to_f32(idx->block_step[b]) < 0)
            return BAD("summary quantization");
    int64_t maxb = 0;
    for (int64_t t = 0; t < idx->dim; t++) {
        int64_t nb = idx->list_blocks[t + 1] - idx->list_blocks[t];
        if (nb > BI_MAX_BLOCKS_PER_LIST) return BAD("blocks per list");
        if (nb > maxb) maxb = nb;
        /* the list's entries: 1 or 2 bytes of block number each, offsets of the samples in 32 bits */
        int64_t ne = idx->list_entries[t + 1] - idx->list_entries[t];
        const int64_t w = blk_width(nb);
        if (ne > (int64_t)UINT32_MAX || idx->list_blk_off[t + 1] - idx->list_blk_off[t] != w * ne)
            return BAD("summary block-number offsets");
        /* rows: entry rows of 1..255 entries adding up to the list's entries, skip rows of delta
         * 1..255 each followed by an entry row, every row's term (the deltas summed) in [0, dim);
         * the entries of one term (its consecutive rows) have increasing blocks < nb */
        const uint8_t *blk = idx->sentry_blk + idx->list_blk_off[t];
        int64_t e = 0, u = 0, prev = -1; /* term of the row; of the previous entry row */
        for (int64_t j = idx->list_sterms[t]; j < idx->list_sterms[t + 1]; j++) {
            int64_t d = idx->srow[2 * j], c = idx->srow[2 * j + 1];
            if (c == 0) {
                if (d == 0 || j + 1 == idx->list_sterms[t + 1] || idx->srow[2 * j + 3] == 0)
                    return BAD("summary skip rows");
                u += d << 8;
            } else {
                u += d;
            }
            if (u >= idx->dim) return BAD("summary term ids");
            if (c == 0) continue;
            if (c > ne - e) return BAD("summary row counts");
            int same = u == prev;
            prev = u;
            for (int64_t e1 = e + c; e < e1; e++) {
                uint32_t b = blk_at(blk, w, e);
                if (b >= (uint64_t)nb) return BAD("summary block numbers");
                if ((e > e1 - c || same) && b <= blk_at(blk, w, e - 1)) return BAD("summary block order");
            }
        }
        if (e != ne) return BAD("summary row counts");
    }
    if (maxb != idx->max_blocks_per_list) return BAD("maximum blocks per list");
    /* codes: any nibble is a valid code; the unused high nibble of an odd count's last byte is 0 */
    if ((idx->n_sentries & 1) && (idx->sentry_code[idx->n_sentries >> 1] >> 4) != 0)
        return BAD("summary code padding");
    return BI_OK;
#undef BAD
}

int bi_load(const char *path, bi_index **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        set_err(err, errlen, BI_EIO, "cannot open %s: %s", path, strerror(e));
        errno = e;
        return BI_EIO;
    }
    bi_index *idx = NULL;
    int rc = BI_OK;
    char magic[8];
    uint32_t head[2];
    int64_t ints[BI_N_HEADER_INTS];
    double dbl[BI_N_HEADER_DOUBLES];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, BI_MAGIC, 8) != 0) {
        rc = set_err(err, errlen, BI_EFORMAT, "%s is not a blocked index file (bad magic)", path);
        goto done;
    }
    if (fread(head, 4, 2, f) != 2 || head[1] != BI_ENDIAN_MARK) {
        rc = set_err(err, errlen, BI_EFORMAT, "%s: unsupported byte order or truncated header", path);
        goto done;
    }
    if (head[0] != BI_FORMAT_VERSION) {
        if (head[0] >= 1u && head[0] <= 4u)
            rc = set_err(err, errlen, BI_EFORMAT,
                         "%s: index file format version %u, this build reads version %u (version 3 stores the "
                         "summaries more compactly, version 4 quantizes them to 4 bits, version 5 stores block "
                         "offsets in 32 bits and summary min/step as bfloat16); rebuild the index and save it again",
                         path, (unsigned)head[0], BI_FORMAT_VERSION);
        else
            rc = set_err(err, errlen, BI_EFORMAT, "%s: index file format version %u, this build reads version %u",
                         path, (unsigned)head[0], BI_FORMAT_VERSION);
        goto done;
    }
    if (fread(ints, 8, BI_N_HEADER_INTS, f) != BI_N_HEADER_INTS ||
        fread(dbl, 8, BI_N_HEADER_DOUBLES, f) != BI_N_HEADER_DOUBLES) {
        rc = set_err(err, errlen, BI_EFORMAT, "%s: truncated header", path);
        goto done;
    }
    idx = xcalloc(1, sizeof(bi_index));
    if (!idx) {
        rc = ENOMEM_RET(err, errlen);
        goto done;
    }
    idx->n_docs = ints[0];
    idx->dim = ints[1];
    idx->nnz = ints[2];
    idx->n_blocks = ints[3];
    idx->n_postings = ints[4];
    idx->n_sterms = ints[5];
    idx->n_sentries = ints[6];
    idx->max_blocks_per_list = ints[7];
    idx->params.n_postings = ints[8];
    idx->params.min_cluster_size = ints[9];
    idx->params.doc_cut = ints[10];
    idx->params.seed = (uint64_t)ints[11];
    idx->params.pruning = (int)ints[12];
    idx->params.value_type = (int)ints[13];
    idx->params.max_block_size = ints[14];
    idx->n_blk_bytes = ints[15];
    idx->params.max_fraction = dbl[0];
    idx->params.centroid_fraction = dbl[1];
    idx->params.summary_energy = dbl[2];
    /* sizes: bounded before anything is allocated from them */
    const int64_t lim = (int64_t)1 << 40;
    if (idx->n_docs < 0 || (uint64_t)idx->n_docs >= (uint64_t)BI_MAX_DOCS || idx->dim < 1 ||
        idx->dim > BI_MAX_DIM || idx->nnz < 0 || idx->nnz > lim || idx->n_blocks < 0 || idx->n_blocks > lim ||
        idx->n_postings < 0 || idx->n_postings > lim || idx->n_sterms < 0 || idx->n_sterms > lim ||
        idx->n_sentries < 0 || idx->n_sentries > lim || idx->n_blk_bytes < 0 || idx->n_blk_bytes > 2 * lim ||
        idx->max_blocks_per_list < 0 ||
        idx->max_blocks_per_list > BI_MAX_BLOCKS_PER_LIST ||
        (ints[12] != BI_PRUNE_GLOBAL && ints[12] != BI_PRUNE_FIXED) ||
        (ints[13] != BI_VALUES_F32 && ints[13] != BI_VALUES_F16)) {
        rc = set_err(err, errlen, BI_EFORMAT, "%s: invalid sizes in the header", path);
        goto done;
    }
    array_ref a[BI_N_ARRAYS];
    index_arrays(idx, a);
    /* the file must be exactly as long as the header says, before allocating */
    int64_t expect = 8 + 8 + 8 * BI_N_HEADER_INTS + 8 * BI_N_HEADER_DOUBLES + 8;
    for (int i = 0; i < BI_N_ARRAYS; i++) expect += 8 + a[i].bytes;
    long here = ftell(f);
    if (here < 0 || fseek(f, 0, SEEK_END) != 0) {
        rc = set_err(err, errlen, BI_EIO, "%s: cannot seek: %s", path, strerror(errno));
        goto done;
    }
    long size = ftell(f);
    if (size < 0 || fseek(f, here, SEEK_SET) != 0) {
        rc = set_err(err, errlen, BI_EIO, "%s: cannot seek: %s", path, strerror(errno));
        goto done;
    }
    if ((int64_t)size != expect) {
        rc = set_err(err, errlen, BI_EFORMAT, "%s: file has %ld bytes, its header announces %lld (truncated or damaged)",
                     path, size, (long long)expect);
        goto done;
    }
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < BI_N_ARRAYS; i++) {
        int64_t n;
        if (fread(&n, 8, 1, f) != 1 || n != a[i].bytes) {
            rc = set_err(err, errlen, BI_EFORMAT, "%s: array %d has an unexpected size", path, i);
            goto done;
        }
        *a[i].ptr = xmalloc((size_t)(n ? n : 1), 1);
        if (!*a[i].ptr) {
            rc = ENOMEM_RET(err, errlen);
            goto done;
        }
        if (n && fread(*a[i].ptr, 1, (size_t)n, f) != (size_t)n) {
            rc = set_err(err, errlen, BI_EFORMAT, "%s: truncated array %d", path, i);
            goto done;
        }
        h = hash_bytes(h, *a[i].ptr, n);
    }
    uint64_t stored;
    if (fread(&stored, 8, 1, f) != 1 || stored != h) {
        rc = set_err(err, errlen, BI_EFORMAT, "%s: checksum mismatch (damaged file)", path);
        goto done;
    }
    if (bi_check_build_params(&idx->params, err, errlen) != BI_OK) {
        rc = set_err(err, errlen, BI_EFORMAT, "%s: invalid build parameters in the header", path);
        goto done;
    }
    rc = validate_index(idx, err, errlen);
    if (rc == BI_OK && !build_samples(idx)) rc = ENOMEM_RET(err, errlen);
done:
    fclose(f);
    if (rc) {
        bi_free(idx);
        return rc;
    }
    *out = idx;
    return BI_OK;
}
