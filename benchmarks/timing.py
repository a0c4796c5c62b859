"""The one timer every benchmark uses: median wall time after a warm-up, CUDA synchronised; and the
process policy of the commands (`commands_policy`), so that benchmarks time what a command gets."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def commands_policy() -> str:
    """Apply what every command applies to its process (`scene_analogy.cli.allocator`) and say so in a
    line. `GLIBC_TUNABLES= python benchmarks/...` measures without it."""
    from scene_analogy.cli.allocator import reuse_freed_memory  # the caller has put the repository on sys.path

    applied = reuse_freed_memory()
    return "allocator: " + ("glibc keeps freed memory (cli/allocator.py)" if applied else "as the system sets it")


def median_seconds(fn: Callable[[], object], repeats: int, device: str | torch.device) -> float:
    """Median seconds of `fn()` over `repeats` calls after one warm-up call."""
    cuda = torch.device(device).type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
