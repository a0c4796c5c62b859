"""Run under torchrun by tests/test_ranks.py: `Ranks.map` over 7 items (rank 0 prints the gathered
list), then again with item 3 failing as argv[1] says ("data": a DataError, "bug": a ValueError)."""

from __future__ import annotations

import sys

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
