"""A pool worker keeps its freed memory: a batch reuses the pages its predecessor faulted in (common/memory.py)."""

from __future__ import annotations

import platform
import resource

import numpy as np
import pytest

from experiments.executor import run_tasks

BLOCK = 64 << 20
PAGES = BLOCK // 4096

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the policy is glibc's mallopt")


def reused_block_faults(nbytes: int, _data) -> int:
    """Page faults of touching a block the size of one just freed: a worker's second batch."""
    np.ones(nbytes // 8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(nbytes // 8)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc_only
def test_a_pool_worker_reuses_the_pages_of_a_freed_block():
    # Without the policy glibc returns the block to the kernel and the second one faults in afresh: 544 faults for
    # these 16,384 pages on the machine this was written on, with transparent huge pages; with it, none.
    faults = []
    run_tasks(reused_block_faults, [BLOCK], None, "pool", 1, lambda _task, n: faults.append(n))
    assert faults[0] <= PAGES // 100, f"{faults[0]} page faults re-touching a freed block of {PAGES} pages"
