"""The commands' allocator policy: glibc keeps freed memory for reuse instead of handing it back.

torch's CPU tensors come from malloc. A descriptor-field call on two threads allocates and frees
blocks of ~10-30 MB (one chunk's token intermediates); by default glibc serves such blocks with mmap
or trims them off the heap when freed, so the next call faults its pages in again (~30,000 page
faults per call of 1,250 queries). Blocks up to `MMAP_THRESHOLD` from the heap and up to
`TRIM_THRESHOLD` of free heap kept: 9,100-10,800 -> 12,400-13,600 queries/s, page faults / 6, peak
resident +0.05 GB (field) to +0.25 GB (20,000-point RoI); docs/speed.md, "Allocator". Either
threshold alone does not help (the trim threshold alone, which fixes the mmap threshold at 128 KB,
halves the speed), so both or neither are set. A process-wide setting, so only the commands (the
processes they own: `cli.boundary.user_errors`) and the benchmarks apply it, never an import of the
library.
"""

from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 32 << 20  # bytes: blocks below this come from the heap (the most every 64-bit glibc accepts)
TRIM_THRESHOLD = 512 << 20  # bytes of free heap top kept before glibc returns memory to the system
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
# A user's own allocator settings win: any of these in the environment leaves malloc as it is.
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")

_applied: bool | None = None


def reuse_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds once per process; True when they are set. False and
    nothing changed: not glibc (macOS, musl, Windows), or the environment sets the allocator itself."""
    global _applied
    if _applied is None:
        _applied = _set_thresholds()
    return _applied


def glibc_mallopt():
    """glibc's `mallopt` through ctypes, or None where the C library is not glibc (macOS, musl, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only: musl's mallopt does nothing
        return libc.mallopt
    except (OSError, AttributeError):
        return None


def _set_thresholds() -> bool:
    mallopt = glibc_mallopt()
    if mallopt is None or any(name in os.environ for name in USER_SETTINGS):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # Mmap first: if glibc refuses it, the trim threshold is left alone (alone it is the slow case).
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
