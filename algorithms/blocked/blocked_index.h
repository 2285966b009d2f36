/*
 * blocked_index.h — a blocked inverted index for learned sparse vectors (pure C11, no Python).
 *
 * The design follows Bruch, Nardini, Rulli, Venturini, "Efficient Inverted Indexes for
 * Approximate Retrieval over Learned Sparse Representations" (SIGIR 2024), i.e. the
 * Seismic index:
 *
 *   forward index   every document's full sparse vector (term ids + weights), used to score
 *                   candidate documents exactly against the full query;
 *   posting lists   one per term, statically pruned to its largest-weight entries;
 *   blocks          each pruned posting list is clustered into blocks of similar documents;
 *   summaries       per block, the coordinate-wise maximum of its documents, truncated to the
 *                   entries that hold `summary_energy` of its L1 mass and quantized to 4 bits.
 *
 * A query scores the block summaries of the posting lists of its `query_cut` largest terms,
 * visits blocks in decreasing summary score, and stops at the first block whose summary score
 * is below `heap_factor` times the current k-th best document score.  See blocked_index.c for
 * the details of every step.
 *
 * Conventions: term ids are < 65,536 (stored as uint16); document ids are < 2^32 - 1; all
 * functions return BI_OK or an error code and, on error, write a message into `err`.
 * Nothing here is thread-safe for one searcher; an index is read-only after building and may be
 * shared by several searchers (one per thread).  There is no global mutable state.
 */
#ifndef BLOCKED_INDEX_H
#define BLOCKED_INDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bi_status {
    BI_OK = 0,
    BI_EINVAL = 1,  /* invalid argument or input data */
    BI_ENOMEM = 2,  /* allocation failed */
    BI_EIO = 3,     /* reading or writing a file failed (errno is set) */
    BI_EFORMAT = 4  /* a file is not a valid index */
};

enum bi_pruning {
    BI_PRUNE_GLOBAL = 0, /* global top n_postings * n_terms entries, at most max_fraction * n_postings per list */
    BI_PRUNE_FIXED = 1   /* top n_postings entries of every list */
};

enum bi_value_type {
    BI_VALUES_F32 = 0, /* forward-index weights stored as float32 (exact) */
    BI_VALUES_F16 = 1  /* stored as IEEE half precision (half the memory traffic, ~1e-3 relative error) */
};

#define BI_MAX_DIM 65536
#define BI_MAX_DOCS 4294967295u /* ids are uint32, UINT32_MAX - 1 at most */
#define BI_MAX_BLOCKS_PER_LIST 65535

typedef struct bi_build_params {
    int64_t n_postings;       /* pruning budget (see enum bi_pruning) */
    double max_fraction;      /* global pruning: each list keeps at most max_fraction * n_postings entries */
    double centroid_fraction; /* a list of length L is clustered into max(1, floor(centroid_fraction * L)) blocks */
    double summary_energy;    /* a summary keeps its largest entries holding this fraction of its L1 mass */
    int64_t min_cluster_size; /* clusters with fewer documents are merged into their next best cluster */
    int64_t doc_cut;          /* clustering scores a document by its doc_cut largest entries (0 = all) */
    uint64_t seed;            /* seeds the choice of cluster centroids (the build is deterministic) */
    int pruning;              /* enum bi_pruning */
    int value_type;           /* enum bi_value_type */
    int64_t max_block_size;   /* blocks larger than this are split (0 = no limit) */
} bi_build_params;

/* The defaults of the reference implementation (pyseismic-lsr), with f32 values. */
void bi_build_params_default(bi_build_params *p);

/* A CSR matrix: row i is indices/data[indptr[i] .. indptr[i+1]); term ids in [0, dim).  The
 * caller guarantees that indices and data hold indptr[n_rows] elements (the rest is checked). */
typedef struct bi_csr {
    int64_t n_rows;
    int64_t dim;
    const int64_t *indptr; /* n_rows + 1 */
    const int32_t *indices;
    const float *data;
} bi_csr;

/* Checks a CSR matrix: indptr starts at 0 and never decreases, term ids are strictly increasing
 * within each row (so sorted and without duplicates) and in [0, dim), weights are finite.
 * `what` names the matrix in the message ("documents", "queries"). */
int bi_check_csr(const bi_csr *m, const char *what, char *err, size_t errlen);

/* Checks build parameters. */
int bi_check_build_params(const bi_build_params *p, char *err, size_t errlen);

typedef struct bi_index bi_index;
typedef struct bi_searcher bi_searcher;

/* Builds an index over `docs` (checked with bi_check_csr). */
int bi_build(const bi_csr *docs, const bi_build_params *p, bi_index **out, char *err, size_t errlen);
void bi_free(bi_index *idx);

/* Binary file: magic "BLKIDX\r\n", format version, sizes, then the arrays (little endian).
 * bi_load checks every size and offset, so a damaged file gives BI_EFORMAT, never a crash. */
int bi_save(const bi_index *idx, const char *path, char *err, size_t errlen);
int bi_load(const char *path, bi_index **out, char *err, size_t errlen);

/* --- facts and introspection ---------------------------------------------------------------- */
typedef struct bi_info {
    int64_t n_docs, dim, nnz;
    int64_t n_postings_total; /* entries kept in the pruned posting lists */
    int64_t n_blocks;         /* blocks over all lists */
    int64_t n_summary_entries;
    int64_t max_blocks_per_list;
    int64_t nbytes;           /* memory held by the index arrays */
    bi_build_params params;
} bi_info;
void bi_get_info(const bi_index *idx, bi_info *info);

/* Posting list of `term`: number of blocks and of postings (0, 0 for an empty list). */
int bi_list_sizes(const bi_index *idx, int64_t term, int64_t *n_blocks, int64_t *n_postings,
                  int64_t *n_summary_entries, char *err, size_t errlen);

/* Copies the blocks of `term` in their stored order: block_offsets[n_blocks + 1] into doc_ids
 * [n_postings]; the summaries as a CSR over blocks (summary_offsets[n_blocks + 1], terms and
 * codes [n_summary_entries], terms increasing within a summary; the 4-bit codes 0..15 one per
 * byte here) and the per-summary dequantization (value = summary_min + summary_step * code). */
int bi_list_blocks(const bi_index *idx, int64_t term, int64_t *block_offsets, int64_t *doc_ids,
                   int64_t *summary_offsets, int32_t *summary_terms, uint8_t *summary_codes,
                   float *summary_min, float *summary_step, char *err, size_t errlen);

/* Forward vector of a document (n terms; values converted to float). */
int bi_doc_size(const bi_index *idx, int64_t doc, int64_t *n, char *err, size_t errlen);
int bi_doc_vector(const bi_index *idx, int64_t doc, int32_t *terms, float *values, char *err, size_t errlen);

/* --- search --------------------------------------------------------------------------------- */
typedef struct bi_stats {
    int64_t queries;
    int64_t lists;          /* posting lists scanned */
    int64_t summaries;      /* block summaries scored */
    int64_t blocks;         /* blocks visited */
    int64_t docs;           /* documents scored exactly (each once per query) */
    int64_t entries;        /* summary entries read */
} bi_stats;

/* A searcher holds the per-query scratch of one thread (dense query array, visited epochs,
 * heaps, summary scores), so a query allocates nothing.  bi_searcher_reserve grows it for a
 * given k and query_cut; bi_search and bi_search_batch fail with BI_EINVAL when it is too small. */
int bi_searcher_new(const bi_index *idx, bi_searcher **out, char *err, size_t errlen);
void bi_searcher_free(bi_searcher *s);
int bi_searcher_reserve(bi_searcher *s, int64_t k, int64_t query_cut, char *err, size_t errlen);
/* Counters accumulated by the searcher since the last reset. */
void bi_searcher_stats(const bi_searcher *s, bi_stats *out);
void bi_searcher_reset_stats(bi_searcher *s);
/* Which document-scoring kernel is in use ("avx2" or "scalar"). */
const char *bi_searcher_kernel(const bi_searcher *s);
/* Forces the portable kernel (for tests and measurements). */
void bi_searcher_force_scalar(bi_searcher *s, int force);
/* Number of documents whose rows are prefetched ahead while a block is scored (default 2). */
void bi_searcher_set_prefetch(bi_searcher *s, int64_t docs_ahead);

typedef struct bi_query_params {
    int64_t k;
    int64_t query_cut;  /* posting lists of the query_cut largest query weights are scanned */
    float heap_factor;  /* a block is skipped when summary score < heap_factor * k-th best; 0 visits all */
    int64_t candidates; /* 0: the block walk above; > 0: score-at-a-time instead (see blocked_index.c,
                         * "Query, candidates mode"): the documents of the query_cut lists are ranked
                         * by their blocks' summary weights of the lists' terms, and the `candidates`
                         * best are scored exactly (heap_factor is not used) */
} bi_query_params;

/* The defaults of the reference implementation (pyseismic-lsr): query_cut 10, heap_factor 0.9f
 * (and candidates 0, the block walk);
 * k is set to 10 so that the defaults form a valid query on their own, but a caller normally
 * sets k itself (the Python binding always does: k is a required argument). */
void bi_query_params_default(bi_query_params *qp);

int bi_check_query_params(const bi_query_params *qp, char *err, size_t errlen);

/* One query: terms strictly increasing in [0, dim), finite weights (checked).  Writes k ids
 * (best first, -1 padded) and their scores (inner products; NaN for padding) and the number
 * found. */
int bi_search(const bi_index *idx, bi_searcher *s, const int32_t *terms, const float *values, int64_t nnz,
              const bi_query_params *qp, int64_t *out_ids, float *out_scores, int64_t *n_found,
              char *err, size_t errlen);

/* Every row of `queries` (checked with bi_check_csr first), one after the other on the calling
 * thread; out_ids and out_scores are n_rows x k. */
int bi_search_batch(const bi_index *idx, bi_searcher *s, const bi_csr *queries, const bi_query_params *qp,
                    int64_t *out_ids, float *out_scores, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* BLOCKED_INDEX_H */
