"""A pool worker keeps its freed memory: a batch reuses the pages its predecessor faulted in (common/memory.py)."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from experiments.executor import run_tasks

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 64 << 20
PAGES = BLOCK // 4096

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the policy is glibc's mallopt")


def reused_block_faults(nbytes: int, _data) -> int:
    """Page faults of touching a block the size of one just freed: a worker's second batch."""
    np.ones(nbytes // 8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(nbytes // 8)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def faults_of_a_block_freed_by_another_thread(nbytes: int) -> int:
    """Page faults of touching a block the size of one that another live thread just freed: the calibration's workers
    run each batch in whichever of their threads completes it (calibration/batching.py). The process has held twice
    the block before, as a worker has after its first batch."""
    np.ones(nbytes // 4)
    freed, hold, faults = threading.Event(), threading.Event(), []

    def first() -> None:
        np.ones(nbytes // 8)
        freed.set()
        hold.wait()

    def second() -> None:
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        np.ones(nbytes // 8)
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)

    a, b = threading.Thread(target=first), threading.Thread(target=second)
    a.start()
    freed.wait()
    b.start()
    b.join()
    hold.set()
    a.join()
    return faults[0]


@glibc_only
def test_a_pool_worker_reuses_the_pages_of_a_freed_block():
    # Without the policy glibc returns the block to the kernel and the second one faults in afresh: 544 faults for
    # these 16,384 pages on the machine this was written on, with transparent huge pages; with it, none.
    faults = []
    run_tasks(reused_block_faults, [BLOCK], None, "pool", 1, lambda _task, n: faults.append(n))
    assert faults[0] <= PAGES // 100, f"{faults[0]} page faults re-touching a freed block of {PAGES} pages"


@glibc_only
def test_a_block_freed_by_one_thread_is_reused_by_another_without_page_faults():
    # In a fresh interpreter whose first act is the policy (its heap limit binds only heaps made after it): with a heap
    # per thread (glibc's default) the second thread's block comes from its own heap and faults in afresh, 528 faults
    # for these 8,192 pages on the machine this was written on; with one heap for every thread, none.
    block = 32 << 20
    code = ("from common.memory import keep_freed_memory\nassert keep_freed_memory()\n"
            "from test_memory import faults_of_a_block_freed_by_another_thread as probe\n"
            f"print(probe({block}))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    faults = int(out.stdout.split()[-1])
    assert faults <= block // 4096 // 100, f"{faults} page faults on a block another thread freed"
