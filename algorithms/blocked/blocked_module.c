/*
 * blocked_module.c — the CPython binding of blocked_index.c: module `algorithms._blocked`.
 *
 * A thin layer: it reads numpy arrays through the buffer protocol (no numpy build dependency),
 * checks dtypes, shapes and contiguity, and turns the core's error codes into Python exceptions
 * (TypeError for a wrong dtype or type, ValueError for bad values, MemoryError, OSError).  Output
 * arrays are created with numpy.empty (numpy is imported at run time) and filled through their
 * buffers.
 *
 *   Index.build(indptr, indices, data, dim, *, n_postings, max_fraction, centroid_fraction,
 *               summary_energy, min_cluster_size, doc_cut, seed, pruning, value_type,
 *               max_block_size)                                        -> Index
 *   Index.load(path)                                                   -> Index
 *   index.save(path)
 *   index.search(terms, values, k, query_cut, heap_factor, candidates) -> (ids int64[k], scores float32[k])
 *   index.batch_search(indptr, indices, data, k, query_cut, heap_factor, candidates)
 *                                                                      -> (ids int64[nq, k], scores float32[nq, k])
 *   index.blocks(term) -> dict of the posting list's blocks and summaries (introspection)
 *   index.doc(d)       -> (terms int32, values float32) from the forward index
 *   index.info(), index.stats(reset=False), index.kernel, index.force_scalar(flag)
 *
 * dtypes: indptr int32 or int64; indices/terms int32; data/values float32; all 1-D, C-contiguous.
 * An Index holds one searcher (per-query scratch); batch_search releases the GIL, and a second
 * thread that uses the same Index meanwhile gets a RuntimeError instead of racing.
 *
 * Defaults: an omitted build or query parameter takes the value of the C core's
 * bi_build_params_default / bi_query_params_default (the one place they are written); the module
 * attributes BUILD_DEFAULTS and QUERY_DEFAULTS are dicts made from the same functions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <string.h>

#include "blocked_index.h"

#define ERRLEN 512

/* Type and module slots hold functions as void *: ISO C has no such conversion, CPython's API
 * needs it (every supported platform allows it); __extension__ keeps -Wpedantic quiet. */
#if defined(__GNUC__)
#define SLOT_FN(f) (__extension__(void *)(f))
#else
#define SLOT_FN(f) ((void *)(f))
#endif

typedef struct {
    PyObject *index_type;
    PyObject *np_empty; /* numpy.empty */
} module_state;

typedef struct {
    PyObject_HEAD
    bi_index *idx;
    bi_searcher *searcher;
    int busy; /* a batch search runs without the GIL */
} IndexObject;

static struct PyModuleDef blocked_module;

static module_state *state_of_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, &blocked_module);
    return m ? (module_state *)PyModule_GetState(m) : NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Errors                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

static PyObject *raise_status(int rc, const char *err)
{
    switch (rc) {
    case BI_ENOMEM:
        return PyErr_NoMemory();
    case BI_EIO:
        PyErr_SetString(PyExc_OSError, err);
        return NULL;
    default: /* BI_EINVAL, BI_EFORMAT */
        PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Buffers                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

enum kind { K_INT, K_UINT, K_FLOAT, K_OTHER };

/* Kind of a struct-module format string ("<i", "=f", "l", ...); big-endian formats are K_OTHER. */
static enum kind format_kind(const char *fmt)
{
    if (!fmt) return K_UINT; /* plain bytes */
    if (*fmt == '@' || *fmt == '=' || *fmt == '<') fmt++;
    if (fmt[0] == '\0' || fmt[1] != '\0') return K_OTHER;
    switch (fmt[0]) {
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n':
        return K_INT;
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N':
        return K_UINT;
    case 'e': case 'f': case 'd':
        return K_FLOAT;
    default:
        return K_OTHER;
    }
}

static const char *describe(const Py_buffer *v)
{
    static const char *names[] = {"int", "unsigned int", "float", "unsupported"};
    return names[format_kind(v->format)];
}

/* A 1-D C-contiguous buffer of `kind` with one of the item sizes in `sizes` (0-terminated). */
static int get_array(PyObject *obj, const char *name, enum kind kind, const int *sizes, const char *expected,
                     Py_buffer *view)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_RECORDS_RO) != 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a numpy array of %s, not %.100s", name, expected,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    int ok_size = 0;
    for (const int *s = sizes; *s; s++) ok_size |= view->itemsize == *s;
    if (format_kind(view->format) != kind || !ok_size) {
        PyErr_Format(PyExc_TypeError, "%s must be an array of %s, got %zd-byte %s items (format '%s')", name,
                     expected, view->itemsize, describe(view), view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    if (view->ndim != 1) {
        PyErr_Format(PyExc_ValueError, "%s must be 1-dimensional, got %d dimensions", name, view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    if (!PyBuffer_IsContiguous(view, 'C')) {
        PyErr_Format(PyExc_ValueError, "%s must be C-contiguous (use numpy.ascontiguousarray)", name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static const int SZ_4[] = {4, 0};
static const int SZ_48[] = {4, 8, 0};

/* A CSR triple from Python, as the core wants it (indptr widened to int64 when given as int32). */
typedef struct {
    Py_buffer indptr, indices, data;
    int have_indptr, have_indices, have_data;
    int64_t *indptr64; /* owned copy, or NULL when the buffer is already int64 */
    bi_csr csr;
} csr_arg;

static void csr_release(csr_arg *c)
{
    if (c->have_indptr) PyBuffer_Release(&c->indptr);
    if (c->have_indices) PyBuffer_Release(&c->indices);
    if (c->have_data) PyBuffer_Release(&c->data);
    PyMem_Free(c->indptr64);
    memset(c, 0, sizeof *c);
}

static int csr_get(PyObject *indptr, PyObject *indices, PyObject *data, int64_t dim, csr_arg *c)
{
    memset(c, 0, sizeof *c);
    if (get_array(indptr, "indptr", K_INT, SZ_48, "int32 or int64", &c->indptr) < 0) goto fail;
    c->have_indptr = 1;
    if (get_array(indices, "indices", K_INT, SZ_4, "int32", &c->indices) < 0) goto fail;
    c->have_indices = 1;
    if (get_array(data, "data", K_FLOAT, SZ_4, "float32", &c->data) < 0) goto fail;
    c->have_data = 1;
    Py_ssize_t n_ptr = c->indptr.shape[0], nnz = c->indices.shape[0];
    if (n_ptr < 1) {
        PyErr_SetString(PyExc_ValueError, "indptr must have at least one element (n_rows + 1)");
        goto fail;
    }
    if (c->data.shape[0] != nnz) {
        PyErr_Format(PyExc_ValueError, "indices and data have different lengths (%zd and %zd)", nnz,
                     c->data.shape[0]);
        goto fail;
    }
    const int64_t *ip;
    if (c->indptr.itemsize == 8) {
        ip = c->indptr.buf;
    } else {
        c->indptr64 = PyMem_Malloc((size_t)n_ptr * sizeof(int64_t));
        if (!c->indptr64) {
            PyErr_NoMemory();
            goto fail;
        }
        const int32_t *p32 = c->indptr.buf;
        for (Py_ssize_t i = 0; i < n_ptr; i++) c->indptr64[i] = p32[i];
        ip = c->indptr64;
    }
    if (ip[n_ptr - 1] != (int64_t)nnz) {
        PyErr_Format(PyExc_ValueError, "indptr[-1] is %lld but indices and data have %zd entries",
                     (long long)ip[n_ptr - 1], nnz);
        goto fail;
    }
    c->csr.n_rows = n_ptr - 1;
    c->csr.dim = dim;
    c->csr.indptr = ip;
    c->csr.indices = c->indices.buf;
    c->csr.data = c->data.buf;
    return 0;
fail:
    csr_release(c);
    return -1;
}

/* numpy.empty(shape, dtype) and a writable buffer on it. */
static PyObject *new_array(module_state *st, Py_ssize_t n0, Py_ssize_t n1, const char *dtype, Py_buffer *view)
{
    PyObject *shape = n1 < 0 ? Py_BuildValue("(n)", n0) : Py_BuildValue("(nn)", n0, n1);
    if (!shape) return NULL;
    PyObject *arr = PyObject_CallFunction(st->np_empty, "Os", shape, dtype);
    Py_DECREF(shape);
    if (!arr) return NULL;
    if (PyObject_GetBuffer(arr, view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) {
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

/* The (ids int64, scores float32) output pair of a search, with writable views; on failure both views
 * are released and *ids may be set (the caller's Py_XDECREF frees it). */
static int new_results(module_state *st, Py_ssize_t n0, Py_ssize_t n1, PyObject **ids, Py_buffer *bo_ids,
                       PyObject **scores, Py_buffer *bo_scores)
{
    *ids = new_array(st, n0, n1, "int64", bo_ids);
    if (!*ids) return -1;
    *scores = new_array(st, n0, n1, "float32", bo_scores);
    if (!*scores) {
        PyBuffer_Release(bo_ids);
        return -1;
    }
    return 0;
}

/* Releases the output views and returns (ids, scores), or raises the search's error. */
static PyObject *results_tuple(int rc, const char *err, PyObject *ids, Py_buffer *bo_ids, PyObject *scores,
                               Py_buffer *bo_scores)
{
    PyBuffer_Release(bo_ids);
    PyBuffer_Release(bo_scores);
    if (rc) {
        raise_status(rc, err);
        return NULL;
    }
    return PyTuple_Pack(2, ids, scores);
}

/* ---------------------------------------------------------------------------------------------- */
/* Index                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

static PyObject *wrap_index(PyTypeObject *tp, bi_index *idx)
{
    char err[ERRLEN];
    bi_searcher *s = NULL;
    int rc = bi_searcher_new(idx, &s, err, sizeof err);
    if (rc) {
        bi_free(idx);
        return raise_status(rc, err);
    }
    IndexObject *self = (IndexObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        bi_searcher_free(s);
        bi_free(idx);
        return NULL;
    }
    self->idx = idx;
    self->searcher = s;
    return (PyObject *)self;
}

static void Index_dealloc(IndexObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    bi_searcher_free(self->searcher);
    bi_free(self->idx);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int Index_traverse(IndexObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int check_not_busy(IndexObject *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "this Index is being searched by another thread");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Parameters                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

/* The Python names of the enum-valued build parameters (read-only tables, the only place they are
 * spelled): enum bi_pruning and enum bi_value_type. */
typedef struct {
    const char *name;
    int value;
} choice;

static const choice PRUNINGS[2] = {{"global", BI_PRUNE_GLOBAL}, {"fixed", BI_PRUNE_FIXED}};
static const choice VALUE_TYPES[2] = {{"f32", BI_VALUES_F32}, {"f16", BI_VALUES_F16}};

static const char *choice_name(const choice c[2], int value)
{
    return c[0].value == value ? c[0].name : c[1].value == value ? c[1].name : "unknown";
}

static int parse_choice(const char *what, const choice c[2], const char *name, int *out)
{
    for (int i = 0; i < 2; i++) {
        if (strcmp(name, c[i].name) == 0) {
            *out = c[i].value;
            return 0;
        }
    }
    PyErr_Format(PyExc_ValueError, "%s must be '%s' or '%s', got '%s'", what, c[0].name, c[1].name, name);
    return -1;
}

/* Build parameters as a dict (Index.info()["params"], BUILD_DEFAULTS): ints, floats, str. */
static PyObject *build_params_dict(const bi_build_params *p)
{
    return Py_BuildValue("{s:L,s:d,s:d,s:d,s:L,s:L,s:K,s:s,s:s,s:L}", "n_postings", (long long)p->n_postings,
                         "max_fraction", p->max_fraction, "centroid_fraction", p->centroid_fraction, "summary_energy",
                         p->summary_energy, "min_cluster_size", (long long)p->min_cluster_size, "doc_cut",
                         (long long)p->doc_cut, "seed", (unsigned long long)p->seed, "pruning",
                         choice_name(PRUNINGS, p->pruning), "value_type", choice_name(VALUE_TYPES, p->value_type),
                         "max_block_size", (long long)p->max_block_size);
}

/* The Python float for a C float parameter: the double nearest the shortest decimal that reads
 * back as the same float, e.g. 0.9f gives 0.9 rather than (double)0.9f = 0.8999999761581421.
 * Both narrow back to the same float (the binding converts heap_factor to float), so passing the
 * dict's value back changes nothing; the short one is what a user or a config file writes, so it
 * compares equal to it and prints as it.  bi_query_params keeps heap_factor a float rather than a
 * double: the query loop compares float scores against it, and a double would change that
 * arithmetic.  Locale-independent (PyOS_*); 9 significant digits always identify a float. */
static PyObject *float_param(float f)
{
    for (int digits = 1; digits <= 9; digits++) {
        char *text = PyOS_double_to_string((double)f, 'g', digits, 0, NULL);
        if (!text) return NULL;
        double d = PyOS_string_to_double(text, NULL, NULL);
        PyMem_Free(text);
        if (d == -1.0 && PyErr_Occurred()) return NULL;
        if (fabs(d) <= FLT_MAX && (float)d == f) return PyFloat_FromDouble(d);
    }
    return PyFloat_FromDouble((double)f); /* NaN or infinite */
}

/* Query parameters without k as a dict (QUERY_DEFAULTS). */
static PyObject *query_params_dict(const bi_query_params *qp)
{
    PyObject *heap_factor = float_param(qp->heap_factor);
    if (!heap_factor) return NULL;
    return Py_BuildValue("{s:L,s:N,s:L}", "query_cut", (long long)qp->query_cut, "heap_factor", heap_factor,
                         "candidates", (long long)qp->candidates);
}

static PyObject *Index_build(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"indptr",   "indices",          "data",     "dim",     "n_postings",
                             "max_fraction", "centroid_fraction", "summary_energy", "min_cluster_size",
                             "doc_cut",  "seed",             "pruning",  "value_type", "max_block_size", NULL};
    PyObject *o_indptr, *o_indices, *o_data, *o_seed = NULL;
    Py_ssize_t dim;
    bi_build_params p;
    bi_build_params_default(&p);
    Py_ssize_t n_postings = (Py_ssize_t)p.n_postings, min_cluster_size = (Py_ssize_t)p.min_cluster_size,
               doc_cut = (Py_ssize_t)p.doc_cut, max_block_size = (Py_ssize_t)p.max_block_size;
    const char *pruning = choice_name(PRUNINGS, p.pruning), *value_type = choice_name(VALUE_TYPES, p.value_type);
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOn|$ndddnnOssn:build", kwlist, &o_indptr, &o_indices, &o_data,
                                     &dim, &n_postings, &p.max_fraction, &p.centroid_fraction, &p.summary_energy,
                                     &min_cluster_size, &doc_cut, &o_seed, &pruning, &value_type, &max_block_size))
        return NULL;
    p.n_postings = n_postings;
    p.min_cluster_size = min_cluster_size;
    p.doc_cut = doc_cut;
    p.max_block_size = max_block_size;
    if (o_seed) {
        if (!PyLong_Check(o_seed) || PyBool_Check(o_seed)) {
            PyErr_Format(PyExc_TypeError, "seed must be an int, not %.100s", Py_TYPE(o_seed)->tp_name);
            return NULL;
        }
        unsigned long long seed = PyLong_AsUnsignedLongLong(o_seed);
        if (PyErr_Occurred()) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "seed must be in [0, 2**64)");
            return NULL;
        }
        p.seed = seed;
    }
    if (parse_choice("pruning", PRUNINGS, pruning, &p.pruning) < 0 ||
        parse_choice("value_type", VALUE_TYPES, value_type, &p.value_type) < 0)
        return NULL;
    char err[ERRLEN];
    int rc = bi_check_build_params(&p, err, sizeof err);
    if (rc) return raise_status(rc, err);
    if (dim < 1 || dim > BI_MAX_DIM) {
        PyErr_Format(PyExc_ValueError, "dim must be in [1, %d], got %zd", BI_MAX_DIM, dim);
        return NULL;
    }
    csr_arg c;
    if (csr_get(o_indptr, o_indices, o_data, dim, &c) < 0) return NULL;
    bi_index *idx = NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = bi_build(&c.csr, &p, &idx, err, sizeof err);
    Py_END_ALLOW_THREADS
    csr_release(&c);
    if (rc) return raise_status(rc, err);
    return wrap_index(tp, idx);
}

static PyObject *Index_load(PyTypeObject *tp, PyObject *args)
{
    PyObject *path = NULL;
    if (!PyArg_ParseTuple(args, "O&:load", PyUnicode_FSConverter, &path)) return NULL;
    char err[ERRLEN];
    bi_index *idx = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = bi_load(PyBytes_AS_STRING(path), &idx, err, sizeof err);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc) return raise_status(rc, err);
    return wrap_index(tp, idx);
}

static PyObject *Index_save(IndexObject *self, PyObject *args)
{
    PyObject *path = NULL;
    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path)) return NULL;
    char err[ERRLEN];
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = bi_save(self->idx, PyBytes_AS_STRING(path), err, sizeof err);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc) return raise_status(rc, err);
    Py_RETURN_NONE;
}

static int query_params(Py_ssize_t k, Py_ssize_t query_cut, double heap_factor, Py_ssize_t candidates,
                        bi_query_params *qp)
{
    qp->k = k;
    qp->query_cut = query_cut;
    qp->candidates = candidates;
    qp->heap_factor = (float)heap_factor;
    char err[ERRLEN];
    if (heap_factor != heap_factor || heap_factor > 3.0e38) { /* NaN, or not representable as float */
        PyErr_Format(PyExc_ValueError, "heap_factor must be finite and >= 0, got %g", heap_factor);
        return -1;
    }
    int rc = bi_check_query_params(qp, err, sizeof err);
    if (rc) {
        raise_status(rc, err);
        return -1;
    }
    return 0;
}

static PyObject *Index_search(IndexObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"terms", "values", "k", "query_cut", "heap_factor", "candidates", NULL};
    PyObject *o_terms, *o_values;
    bi_query_params qp;
    bi_query_params_default(&qp);
    Py_ssize_t k, query_cut = (Py_ssize_t)qp.query_cut;
    double heap_factor = (double)qp.heap_factor; /* narrowed back to the same float */
    Py_ssize_t candidates = (Py_ssize_t)qp.candidates;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOn|ndn:search", kwlist, &o_terms, &o_values, &k, &query_cut,
                                     &heap_factor, &candidates))
        return NULL;
    if (check_not_busy(self) < 0) return NULL;
    if (query_params(k, query_cut, heap_factor, candidates, &qp) < 0) return NULL;
    module_state *st = state_of_type(Py_TYPE(self));
    if (!st) return NULL;
    Py_buffer bt, bv, bo_ids, bo_scores;
    if (get_array(o_terms, "terms", K_INT, SZ_4, "int32", &bt) < 0) return NULL;
    if (get_array(o_values, "values", K_FLOAT, SZ_4, "float32", &bv) < 0) {
        PyBuffer_Release(&bt);
        return NULL;
    }
    PyObject *ids = NULL, *scores = NULL, *result = NULL;
    char err[ERRLEN];
    if (bt.shape[0] != bv.shape[0]) {
        PyErr_Format(PyExc_ValueError, "terms and values have different lengths (%zd and %zd)", bt.shape[0],
                     bv.shape[0]);
        goto done;
    }
    int rc = bi_searcher_reserve(self->searcher, k, query_cut, err, sizeof err);
    if (rc) {
        raise_status(rc, err);
        goto done;
    }
    if (new_results(st, k, -1, &ids, &bo_ids, &scores, &bo_scores) < 0) goto done;
    rc = bi_search(self->idx, self->searcher, bt.buf, bv.buf, bt.shape[0], &qp, bo_ids.buf, bo_scores.buf, NULL, err,
                   sizeof err);
    result = results_tuple(rc, err, ids, &bo_ids, scores, &bo_scores);
done:
    Py_XDECREF(ids);
    Py_XDECREF(scores);
    PyBuffer_Release(&bt);
    PyBuffer_Release(&bv);
    return result;
}

static PyObject *Index_batch_search(IndexObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"indptr", "indices", "data", "k", "query_cut", "heap_factor", "candidates", NULL};
    PyObject *o_indptr, *o_indices, *o_data;
    bi_query_params qp;
    bi_query_params_default(&qp);
    Py_ssize_t k, query_cut = (Py_ssize_t)qp.query_cut;
    double heap_factor = (double)qp.heap_factor; /* narrowed back to the same float */
    Py_ssize_t candidates = (Py_ssize_t)qp.candidates;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOn|ndn:batch_search", kwlist, &o_indptr, &o_indices, &o_data,
                                     &k, &query_cut, &heap_factor, &candidates))
        return NULL;
    if (check_not_busy(self) < 0) return NULL;
    if (query_params(k, query_cut, heap_factor, candidates, &qp) < 0) return NULL;
    module_state *st = state_of_type(Py_TYPE(self));
    if (!st) return NULL;
    bi_info info;
    bi_get_info(self->idx, &info);
    csr_arg c;
    if (csr_get(o_indptr, o_indices, o_data, info.dim, &c) < 0) return NULL;
    PyObject *ids = NULL, *scores = NULL, *result = NULL;
    Py_buffer bo_ids, bo_scores;
    char err[ERRLEN];
    int rc = bi_searcher_reserve(self->searcher, k, query_cut, err, sizeof err);
    if (rc) {
        raise_status(rc, err);
        goto done;
    }
    if (c.csr.n_rows > 0 && k > PY_SSIZE_T_MAX / 8 / c.csr.n_rows) {
        PyErr_NoMemory();
        goto done;
    }
    if (new_results(st, c.csr.n_rows, k, &ids, &bo_ids, &scores, &bo_scores) < 0) goto done;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    rc = bi_search_batch(self->idx, self->searcher, &c.csr, &qp, bo_ids.buf, bo_scores.buf, err, sizeof err);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    result = results_tuple(rc, err, ids, &bo_ids, scores, &bo_scores);
done:
    Py_XDECREF(ids);
    Py_XDECREF(scores);
    csr_release(&c);
    return result;
}

static PyObject *Index_blocks(IndexObject *self, PyObject *args)
{
    Py_ssize_t term;
    if (!PyArg_ParseTuple(args, "n:blocks", &term)) return NULL;
    module_state *st = state_of_type(Py_TYPE(self));
    if (!st) return NULL;
    char err[ERRLEN];
    int64_t nb, np_, ne;
    int rc = bi_list_sizes(self->idx, term, &nb, &np_, &ne, err, sizeof err);
    if (rc) return raise_status(rc, err);
    const char *names[] = {"block_offsets", "doc_ids", "summary_offsets", "summary_terms",
                           "summary_codes", "summary_min", "summary_step"};
    const char *dtypes[] = {"int64", "int64", "int64", "int32", "uint8", "float32", "float32"};
    Py_ssize_t sizes[] = {nb + 1, np_, nb + 1, ne, ne, nb, nb};
    PyObject *arrays[7] = {NULL};
    Py_buffer views[7];
    int n_views = 0;
    PyObject *result = NULL;
    for (int i = 0; i < 7; i++) {
        arrays[i] = new_array(st, sizes[i], -1, dtypes[i], &views[i]);
        if (!arrays[i]) goto done;
        n_views++;
    }
    rc = bi_list_blocks(self->idx, term, views[0].buf, views[1].buf, views[2].buf, views[3].buf, views[4].buf,
                        views[5].buf, views[6].buf, err, sizeof err);
    if (rc) {
        raise_status(rc, err);
        goto done;
    }
    result = PyDict_New();
    if (!result) goto done;
    for (int i = 0; i < 7; i++) {
        if (PyDict_SetItemString(result, names[i], arrays[i]) < 0) {
            Py_CLEAR(result);
            goto done;
        }
    }
done:
    for (int i = 0; i < n_views; i++) PyBuffer_Release(&views[i]);
    for (int i = 0; i < 7; i++) Py_XDECREF(arrays[i]);
    return result;
}

static PyObject *Index_doc(IndexObject *self, PyObject *args)
{
    Py_ssize_t doc;
    if (!PyArg_ParseTuple(args, "n:doc", &doc)) return NULL;
    module_state *st = state_of_type(Py_TYPE(self));
    if (!st) return NULL;
    char err[ERRLEN];
    int64_t n;
    int rc = bi_doc_size(self->idx, doc, &n, err, sizeof err);
    if (rc) return raise_status(rc, err);
    Py_buffer bt, bv;
    PyObject *terms = new_array(st, n, -1, "int32", &bt);
    if (!terms) return NULL;
    PyObject *values = new_array(st, n, -1, "float32", &bv);
    if (!values) {
        PyBuffer_Release(&bt);
        Py_DECREF(terms);
        return NULL;
    }
    rc = bi_doc_vector(self->idx, doc, bt.buf, bv.buf, err, sizeof err);
    PyBuffer_Release(&bt);
    PyBuffer_Release(&bv);
    PyObject *result = rc ? raise_status(rc, err) : PyTuple_Pack(2, terms, values);
    Py_DECREF(terms);
    Py_DECREF(values);
    return result;
}

static PyObject *Index_info(IndexObject *self, PyObject *Py_UNUSED(ignored))
{
    bi_info i;
    bi_get_info(self->idx, &i);
    PyObject *params = build_params_dict(&i.params);
    if (!params) return NULL;
    return Py_BuildValue("{s:L,s:L,s:L,s:L,s:L,s:L,s:L,s:L,s:N}", "n_docs", (long long)i.n_docs, "dim",
                         (long long)i.dim, "nnz", (long long)i.nnz, "n_postings_total", (long long)i.n_postings_total,
                         "n_blocks", (long long)i.n_blocks, "n_summary_entries", (long long)i.n_summary_entries,
                         "max_blocks_per_list", (long long)i.max_blocks_per_list, "nbytes", (long long)i.nbytes,
                         "params", params);
}

static PyObject *Index_stats(IndexObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"reset", NULL};
    int reset = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:stats", kwlist, &reset)) return NULL;
    if (check_not_busy(self) < 0) return NULL;
    bi_stats s;
    bi_searcher_stats(self->searcher, &s);
    if (reset) bi_searcher_reset_stats(self->searcher);
    return Py_BuildValue("{s:L,s:L,s:L,s:L,s:L,s:L}", "queries", (long long)s.queries, "lists", (long long)s.lists,
                         "summaries", (long long)s.summaries, "entries", (long long)s.entries, "blocks",
                         (long long)s.blocks, "docs", (long long)s.docs);
}

static PyObject *Index_force_scalar(IndexObject *self, PyObject *args)
{
    int flag;
    if (!PyArg_ParseTuple(args, "p:force_scalar", &flag)) return NULL;
    if (check_not_busy(self) < 0) return NULL;
    bi_searcher_force_scalar(self->searcher, flag);
    Py_RETURN_NONE;
}

static PyObject *Index_set_prefetch(IndexObject *self, PyObject *args)
{
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "n:set_prefetch", &n)) return NULL;
    if (check_not_busy(self) < 0) return NULL;
    bi_searcher_set_prefetch(self->searcher, n);
    Py_RETURN_NONE;
}

static PyObject *Index_get_kernel(IndexObject *self, void *Py_UNUSED(closure))
{
    return PyUnicode_FromString(bi_searcher_kernel(self->searcher));
}

static PyObject *Index_get_nbytes(IndexObject *self, void *Py_UNUSED(closure))
{
    bi_info i;
    bi_get_info(self->idx, &i);
    return PyLong_FromLongLong(i.nbytes);
}

static Py_ssize_t Index_len(IndexObject *self)
{
    bi_info i;
    bi_get_info(self->idx, &i);
    return (Py_ssize_t)i.n_docs;
}

static PyMethodDef Index_methods[] = {
    {"build", (PyCFunction)(void (*)(void))Index_build, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "build(indptr, indices, data, dim, *, n_postings, max_fraction, centroid_fraction, summary_energy, "
     "min_cluster_size, doc_cut, seed, pruning, value_type, max_block_size)\n"
     "Build an index over a CSR matrix (indptr int32/int64, indices int32, data float32); "
     "omitted parameters take the values in BUILD_DEFAULTS."},
    {"load", (PyCFunction)(void (*)(void))Index_load, METH_VARARGS | METH_CLASS,
     "load(path) -> Index: read an index written by save()."},
    {"save", (PyCFunction)(void (*)(void))Index_save, METH_VARARGS, "save(path): write the index to a file."},
    {"search", (PyCFunction)(void (*)(void))Index_search, METH_VARARGS | METH_KEYWORDS,
     "search(terms, values, k, query_cut, heap_factor, candidates) -> (ids int64[k], scores float32[k])\n"
     "Approximate top-k by inner product; ids padded with -1 (scores NaN); omitted parameters take the "
     "values in QUERY_DEFAULTS."},
    {"batch_search", (PyCFunction)(void (*)(void))Index_batch_search, METH_VARARGS | METH_KEYWORDS,
     "batch_search(indptr, indices, data, k, query_cut, heap_factor, candidates) -> (ids, scores), each nq x k\n"
     "Every query row in turn on the calling thread (the GIL is released); omitted parameters take the "
     "values in QUERY_DEFAULTS."},
    {"blocks", (PyCFunction)(void (*)(void))Index_blocks, METH_VARARGS,
     "blocks(term) -> dict: the blocks of a posting list (block_offsets into doc_ids) and their summaries "
     "(summary_offsets into summary_terms/summary_codes, codes 0..15; value = summary_min + summary_step * code)."},
    {"doc", (PyCFunction)(void (*)(void))Index_doc, METH_VARARGS,
     "doc(d) -> (terms int32, values float32): a document's forward-index vector."},
    {"info", (PyCFunction)(void (*)(void))Index_info, METH_NOARGS, "info() -> dict of sizes and build parameters."},
    {"stats", (PyCFunction)(void (*)(void))Index_stats, METH_VARARGS | METH_KEYWORDS,
     "stats(reset=False) -> dict: query counters (queries, lists, summaries, blocks, docs)."},
    {"force_scalar", (PyCFunction)(void (*)(void))Index_force_scalar, METH_VARARGS,
     "force_scalar(flag): use the portable scoring kernel even when AVX2 is available."},
    {"set_prefetch", (PyCFunction)(void (*)(void))Index_set_prefetch, METH_VARARGS,
     "set_prefetch(n): documents whose rows are prefetched ahead while a block is scored (tuning)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Index_getset[] = {
    {"kernel", (getter)Index_get_kernel, NULL, "document-scoring kernel in use ('avx2' or 'scalar')", NULL},
    {"nbytes", (getter)Index_get_nbytes, NULL, "memory held by the index arrays", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Index_slots[] = {
    {Py_tp_dealloc, SLOT_FN(Index_dealloc)},
    {Py_tp_traverse, SLOT_FN(Index_traverse)},
    {Py_tp_methods, Index_methods},
    {Py_tp_getset, Index_getset},
    {Py_sq_length, SLOT_FN(Index_len)},
    {Py_tp_doc, (void *)"A blocked inverted index over learned sparse vectors (Seismic design); "
                        "create it with Index.build or Index.load."},
    {0, NULL},
};

static PyType_Spec Index_spec = {
    .name = "algorithms._blocked.Index",
    .basicsize = sizeof(IndexObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Index_slots,
};

/* ---------------------------------------------------------------------------------------------- */
/* Module                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/* Adds `value` (a new reference, or NULL after an error) to the module and releases it. */
static int add_owned(PyObject *m, const char *name, PyObject *value)
{
    if (!value) return -1;
    int rc = PyModule_AddObjectRef(m, name, value);
    Py_DECREF(value);
    return rc;
}

static int module_exec(PyObject *m)
{
    module_state *st = PyModule_GetState(m);
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np) return -1;
    st->np_empty = PyObject_GetAttrString(np, "empty");
    Py_DECREF(np);
    if (!st->np_empty) return -1;
    st->index_type = PyType_FromModuleAndSpec(m, &Index_spec, NULL);
    if (!st->index_type) return -1;
    if (PyModule_AddObjectRef(m, "Index", st->index_type) < 0) return -1;
#ifdef BLOCKED_SANITIZE
    if (PyModule_AddIntConstant(m, "SANITIZED", 1) < 0) return -1;
#else
    if (PyModule_AddIntConstant(m, "SANITIZED", 0) < 0) return -1;
#endif
    if (PyModule_AddIntConstant(m, "MAX_DIM", BI_MAX_DIM) < 0) return -1;
    /* The defaults of the C core, as new dicts for every module object (nothing shared). */
    bi_build_params p;
    bi_build_params_default(&p);
    if (add_owned(m, "BUILD_DEFAULTS", build_params_dict(&p)) < 0) return -1;
    bi_query_params qp;
    bi_query_params_default(&qp);
    if (add_owned(m, "QUERY_DEFAULTS", query_params_dict(&qp)) < 0) return -1;
    return 0;
}

static int module_traverse(PyObject *m, visitproc visit, void *arg)
{
    module_state *st = PyModule_GetState(m);
    Py_VISIT(st->index_type);
    Py_VISIT(st->np_empty);
    return 0;
}

static int module_clear(PyObject *m)
{
    module_state *st = PyModule_GetState(m);
    Py_CLEAR(st->index_type);
    Py_CLEAR(st->np_empty);
    return 0;
}

static void module_free(void *m)
{
    module_clear((PyObject *)m);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, SLOT_FN(module_exec)},
    {0, NULL},
};

static struct PyModuleDef blocked_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "algorithms._blocked",
    .m_doc = "Blocked inverted index for learned sparse retrieval (C core: algorithms/blocked/blocked_index.c).",
    .m_size = sizeof(module_state),
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__blocked(void)
{
    return PyModuleDef_Init(&blocked_module);
}
