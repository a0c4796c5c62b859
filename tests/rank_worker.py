"""Run under torchrun by tests/test_ranks.py: `Ranks.map` over 7 items (rank 0 prints the gathered
list), then again with item 3 failing as argv[1] says ("data": a DataError, "bug": a ValueError).
"leave": no failure; rank 0 then takes a while to write the file argv[2], and every rank says on leaving
whether that file is there (the ranks leave together)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from scene_analogy.cli.boundary import user_errors
from scene_analogy.evaluation.ranks import open_ranks
from scene_analogy.files.errors import DataError


def square(item: int) -> int:
    return item * item


def work(item: int) -> int:
    if item == 3 and sys.argv[1] == "data":
        raise DataError("pair_3.npz", "a broken pair")
    if item == 3 and sys.argv[1] == "bug":
        raise ValueError("a bug")
    return item * item


if __name__ == "__main__":
    with user_errors(), open_ranks() as ranks:
        out = ranks.map(square, list(range(7)), desc="items")
        if ranks.main:
            print("gathered", out, flush=True)
        ranks.map(work, list(range(7)), desc="items")
        if ranks.main and sys.argv[1] == "leave":
            time.sleep(1.0)  # rank 0 writing its outputs while the others are done
            Path(sys.argv[2]).write_text("written")
    if sys.argv[1] == "leave":
        print(f"rank {ranks.rank} leaves, written: {Path(sys.argv[2]).exists()}", flush=True)
