"""The allocator's policy in worker processes: freed memory kept in the process for the next batch.

glibc's malloc serves each large block (a batch's noise and records) with its own ``mmap`` and returns
it to the kernel on ``free``, so the next batch's block of the same size starts from fresh pages and pays a page fault
on every 4 kB it touches. On a virtual machine that hands freed guest pages back to its host (free page reporting), a
fresh page costs about 31 µs (docs/ODD.md §10.42-10.43): more than the arithmetic done on it. A worker that keeps its
freed memory reuses the pages it has already faulted in. Allocation policy changes no value a worker computes.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
# The top of the heap is returned to the kernel only beyond this much free memory: never, in practice.
TRIM_THRESHOLD = 2**31 - 1


def keep_freed_memory() -> bool:
    """Serve every block from one heap and never trim it (glibc only); return whether the policy is in force.

    Called in a worker when it starts, before its tasks allocate. One heap (``M_ARENA_MAX`` 1) for the threads started
    after it: the calibration's workers run each batch in whichever of their threads completes it, and a heap per
    thread grows and shrinks by ``mmap`` whatever the other two settings say. (Heaps that threads already started by a
    library made stay, and later threads take turns on them.) Elsewhere (another C library, another system) a no-op
    that returns False. The process's resident memory then stays at its peak instead of following its use.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(option, value) for option, value in ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0),
                                                             (M_TRIM_THRESHOLD, TRIM_THRESHOLD)))
