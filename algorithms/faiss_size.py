"""Size of a faiss index as ``faiss.write_index`` would store it (shared by the faiss adapters)."""

import faiss


def serialized_size(index: faiss.Index) -> int:
    """Bytes that ``faiss.write_index`` would produce, counted without keeping them."""
    total = 0

    def count(buf: bytes) -> int:
        nonlocal total
        total += len(buf)
        return len(buf)

    writer = faiss.PyCallbackIOWriter(count)
    faiss.write_index(index, writer)
    del writer  # flushes the last chunk
    return total
