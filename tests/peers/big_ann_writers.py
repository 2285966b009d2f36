"""big-ann-benchmarks' own writers, transcribed unchanged (apart from the imports) so that tests feed
annsweep's importers files written by the peer's code, not by annsweep's.

Source: github.com/harsha-simhadri/big-ann-benchmarks, benchmark/dataset_io.py at commit
452e508b72e98f1be6e7bca1a6c98dbf1bc5e967: ``xbin_write``, ``u8bin_write``, ``usbin_write`` (the
knn-result / ``.gt`` layout that ``knn_result_read`` reads), ``write_sparse_matrix``.
"""
# The peer's code as written (names, quotes, open() without close): not linted.
# ruff: noqa

import numpy as np


def xbin_write(x, fname):
    f = open(fname, "wb")
    n, d = x.shape
    np.array([n, d], dtype='uint32').tofile(f)
    x.tofile(f)

def u8bin_write(x, fname):
    assert x.dtype == "uint8"
    xbin_write(x, fname)


def usbin_write(ids, dist, fname):
    ids = np.ascontiguousarray(ids, dtype="int32")
    dist = np.ascontiguousarray(dist, dtype="float32")
    assert ids.shape == dist.shape
    f = open(fname, "wb")
    n, d = dist.shape
    np.array([n, d], dtype='uint32').tofile(f)
    ids.tofile(f)
    dist.tofile(f)


def write_sparse_matrix(mat, fname):
    """ write a CSR matrix in the spmat format """
    with open(fname, "wb") as f:
        sizes = np.array([mat.shape[0], mat.shape[1], mat.nnz], dtype='int64')
        sizes.tofile(f)
        indptr = mat.indptr.astype('int64')
        indptr.tofile(f)
        mat.indices.astype('int32').tofile(f)
        mat.data.astype('float32').tofile(f)
