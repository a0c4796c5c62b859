"""Pairs split across processes: `torchrun --nproc_per_node N` for the matching commands.

    python -m torch.distributed.run --nproc_per_node 2 -m scene_analogy.evaluate ...  (likewise main_field_match)

Under torchrun (env RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) `open_ranks()` joins a gloo
process group (CPU; objects are gathered, not tensors reduced); without those variables it is one
process and `Ranks.map` is a plain loop, exactly the behaviour from before ranks. Rank r matches
pairs r, r + N, r + 2N, ... (`share`: interleaved, so a run of slow pairs is spread over the
ranks), rank 0 gathers every pair's result back into the pairs' order (`restore`) and alone writes
the outputs, so they are those of one process (seconds excepted: they are measured); the ranks
leave through a barrier, so none closes the group while rank 0 still writes.

A failure on one rank (an exception while matching one of its pairs) is sent to rank 0 in the same
gather, so every rank stops with the same `RankError` (one line from rank 0, exit status 2; a
programming error's traceback is printed by the rank where it happened). A rank that dies or hangs
makes the others' gather fail after the process group's timeout (`SCENE_ANALOGY_RANK_TIMEOUT`
seconds, default 1800; a gather only waits for the slowest rank's last pairs) instead of waiting
forever; torchrun itself stops the other workers when one exits with an error.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import traceback
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from tqdm import tqdm

from scene_analogy.files.errors import DataError

TIMEOUT_ENV = "SCENE_ANALOGY_RANK_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0


class RankError(DataError):
    """Some rank failed (or lost the others): the command stops on every rank. `quiet` on ranks other
    than 0, so the command prints its error line once."""

    def __init__(self, problem: str, quiet: bool = False):
        super().__init__(None, problem)
        self.quiet = quiet


def share(n: int, rank: int, world: int) -> list[int]:
    """The item indices rank `rank` of `world` handles: rank, rank + world, ... (every index of
    range(n) exactly once over the ranks)."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} out of range for world size {world}")
    return list(range(rank, n, world))


def restore(parts: Sequence[Sequence], n: int) -> list:
    """Inverse of `share`: parts[r] holds rank r's results in its share's order -> all n in order."""
    world = len(parts)
    out = [None] * n
    for rank, part in enumerate(parts):
        indices = share(n, rank, world)
        if len(part) != len(indices):
            raise ValueError(f"rank {rank} returned {len(part)} results for {len(indices)} items")
        for i, value in zip(indices, part):
            out[i] = value
    return out


@dataclass(frozen=True)
class Ranks:
    """This process's place among the ranks (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def main(self) -> bool:
        """Rank 0: the one that prints and writes."""
        return self.rank == 0

    def device(self, device: str) -> str:
        """`cuda` becomes this rank's GPU (LOCAL_RANK, modulo the GPUs there are) when several ranks run."""
        if self.world > 1 and device == "cuda":
            import torch

            return f"cuda:{self.local_rank % max(torch.cuda.device_count(), 1)}"
        return device

    def map(self, fn: Callable, items: Sequence, desc: str | None = None, progress: bool = True) -> list | None:
        """fn(item) for this rank's share of `items` (a progress bar on rank 0 only); returns every
        item's result in the items' order on rank 0, None on the other ranks. One process: a plain
        loop, exceptions propagate as they are."""
        if self.world == 1:
            return [fn(item) for item in tqdm(items, desc=desc, disable=not progress)]
        mine = share(len(items), self.rank, self.world)
        label = f"{desc or 'items'} (rank 0 of {self.world}: {len(mine)} of {len(items)})"
        results, failure = [], None
        for i in tqdm(mine, desc=label, disable=not (progress and self.main)):
            try:
                results.append(fn(items[i]))
            except Exception as exc:  # noqa: BLE001 - sent to rank 0, re-raised there as one line
                if not isinstance(exc, (DataError, OSError)):
                    traceback.print_exc(file=sys.stderr)  # a programming error keeps its traceback
                failure = f"rank {self.rank} of {self.world} failed on item {i} ({_name(items[i])}): " \
                          f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                break
        parts = self._gather((failure, None if failure else results), desc)
        failures = self._broadcast(None if parts is None else [f for f, _ in parts if f], desc)
        if failures:
            raise RankError("; ".join(failures), quiet=not self.main)
        return restore([r for _, r in parts], len(items)) if self.main else None

    def _gather(self, payload, desc):
        import torch.distributed as dist

        gathered = [None] * self.world if self.main else None
        try:
            dist.gather_object(payload, gathered, dst=0)
        except Exception as exc:  # noqa: BLE001 - a dead or hung rank: one line, not a hang or a traceback
            raise self._lost(exc, f"gathering {desc or 'the results'}") from None
        return gathered

    def _broadcast(self, value, desc):
        import torch.distributed as dist

        box = [value]
        try:
            dist.broadcast_object_list(box, src=0)
        except Exception as exc:  # noqa: BLE001
            raise self._lost(exc, f"gathering {desc or 'the results'}") from None
        return box[0]

    def barrier(self, desc: str) -> None:
        """Wait for every rank (a dead or hung one: RankError after the timeout, as for a gather)."""
        import torch.distributed as dist

        try:
            dist.barrier()
        except Exception as exc:  # noqa: BLE001
            raise self._lost(exc, f"waiting for the other ranks at {desc}") from None

    def _lost(self, exc: Exception, step: str) -> RankError:
        return RankError(f"rank {self.rank} of {self.world}: {step} failed ({_first_line(exc)}); "
                         f"another rank died or took longer than the {self.timeout_s:g} s timeout ({TIMEOUT_ENV})")


ONE = Ranks()  # one process, no process group: the loop of before ranks


def _first_line(exc: Exception) -> str:
    """The first line of a torch.distributed error (they span many), or its type's name."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _name(item) -> str:
    return str(getattr(item, "name", "") or type(item).__name__)


def _timeout_s() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        raise DataError(None, f"{TIMEOUT_ENV} must be a number of seconds, got {text!r}") from None
    if value <= 0:
        raise DataError(None, f"{TIMEOUT_ENV} must be positive, got {text!r}")
    return value


@contextlib.contextmanager
def open_ranks() -> Iterator[Ranks]:
    """This process's `Ranks`: a gloo process group while WORLD_SIZE > 1 (destroyed on the way out),
    nothing to set up otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield Ranks()
        return
    import torch.distributed as dist

    timeout = _timeout_s()
    if not os.environ.get("RANK", "").isdigit():
        raise DataError(None, f"WORLD_SIZE is {world} but RANK is {os.environ.get('RANK')!r}: start the command "
                              "with torchrun (python -m torch.distributed.run --nproc_per_node N -m ...)")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    owned = not dist.is_initialized()
    if owned:
        try:
            dist.init_process_group("gloo", rank=rank, world_size=world,
                                    timeout=datetime.timedelta(seconds=timeout))
        except Exception as exc:  # noqa: BLE001
            raise RankError(f"rank {rank} of {world}: could not join the other ranks ({_first_line(exc)})") from None
    ranks = Ranks(rank, world, local_rank, timeout)
    try:
        yield ranks
        # Leave together: a rank that tears its group down while rank 0 still writes the outputs was
        # seen to abort in gloo (std::terminate, SIGABRT) once in a few runs. On an exception there
        # is no barrier: every rank raises the same RankError, or torchrun stops the rest.
        if owned:
            ranks.barrier("the end of the command")
    finally:
        if owned and dist.is_initialized():
            dist.destroy_process_group()
