"""A check of an LMDB data file before it is mapped: truncated or unreadable is a message.

LMDB maps ``data.mdb`` and reads pages through the map; a page past the end of a truncated
file is a SIGBUS, which kills the process with no word of what happened. The file's two meta
pages (pages 0 and 1) say how far it must reach: the one with the larger transaction id is the
one LMDB uses, and its last used page number ``mm_last_pg`` needs the file to hold at least
``(mm_last_pg + 1) * page_size`` bytes. The meta pages are read with plain ``read`` calls,
which a short file answers with fewer bytes, never a signal.

Layout on a 64-bit machine (lmdb's ``mdb.c``): a page header of 16 bytes, then ``MDB_meta``:
magic and version (u32 each), the map address and size (8 bytes each), two ``MDB_db`` records
of 48 bytes (the free-page database first, whose ``md_pad`` holds the page size), then
``mm_last_pg`` and ``mm_txnid`` (u64 each). Little-endian, as written by x86-64 and arm64.
"""

from __future__ import annotations

import struct
from pathlib import Path

from consortium.storage.errors import LogFileError

MAGIC = 0xBEEFC0DE
_PAGE_HEADER = 16
_MAGIC_AT = _PAGE_HEADER
_PAGE_SIZE_AT = _PAGE_HEADER + 24  # the free database's md_pad
_LAST_PAGE_AT = _PAGE_HEADER + 24 + 2 * 48
_META_BYTES = _LAST_PAGE_AT + 16


def _meta(page: bytes) -> tuple[int, int, int] | None:
    """(page size, last page, transaction id) of a meta page, None if it is not one."""
    if len(page) < _META_BYTES or struct.unpack_from("<I", page, _MAGIC_AT)[0] != MAGIC:
        return None
    page_size = struct.unpack_from("<I", page, _PAGE_SIZE_AT)[0]
    if page_size < 512 or page_size > 1 << 16 or page_size & (page_size - 1):
        return None
    last_page, txnid = struct.unpack_from("<QQ", page, _LAST_PAGE_AT)
    return page_size, last_page, txnid


def check_data_file(directory: Path) -> None:
    """Raise ``LogFileError`` if ``directory``'s ``data.mdb`` cannot be read or is shorter than
    its meta page says; call it before ``lmdb.open`` on an existing file."""
    path = directory / "data.mdb"
    try:
        with path.open("rb") as file:
            first = file.read(_META_BYTES)
            size = path.stat().st_size
            meta = _meta(first)
            if meta is None:
                raise LogFileError(directory, f"is not an LMDB file ({size} bytes, no meta page)")
            file.seek(meta[0])
            second = _meta(file.read(_META_BYTES))
    except OSError as exc:
        raise LogFileError(directory, f"cannot be read: {exc.strerror or exc}") from exc
    if second is None:
        raise LogFileError(directory, f"is truncated or damaged: {size} bytes, one meta page")
    page_size, last_page, _ = max((meta, second), key=lambda m: m[2])
    needed = (last_page + 1) * page_size
    if size < needed:
        raise LogFileError(
            directory,
            f"is truncated: {size} bytes where its LMDB meta page needs at least {needed}",
        )
