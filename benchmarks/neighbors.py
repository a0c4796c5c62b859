"""Micro-benchmark of scene_analogy.neighbors at the sizes the matcher and the field use.

    python benchmarks/neighbors.py [--device cpu|cuda] [--repeats N] [--threads T]

Prints milliseconds per call (median over N timed calls after one warm-up call). Points are spread
uniformly over a 6 m x 3 m x 6 m room; everything is seeded, so runs are comparable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch
from timing import median_seconds  # benchmarks/ is on sys.path when run as a script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from scene_analogy.ops import neighbors as nb  # noqa: E402
from scene_analogy.ops import point_sets as ps  # noqa: E402

ROOM = (6.0, 3.0, 6.0)
RADIUS = 0.75


def room_cloud(num: int, generator: torch.Generator, device: str) -> torch.Tensor:
    """(1, num, 3) float32 points uniform in the room."""
    pts = torch.rand(1, num, 3, generator=generator) * torch.tensor(ROOM)
    return pts.to(device)


def time_call(fn: Callable[[], object], repeats: int, device: str) -> float:
    """Median wall time in ms of `fn` after one warm-up call; CUDA is synchronised around calls."""
    return 1e3 * median_seconds(fn, repeats, device)


def cases(device: str) -> list[tuple[str, Callable[[], object]]]:
    """(label, call) for every benchmarked op and size."""
    gen = torch.Generator().manual_seed(0)
    q1250, p1500 = room_cloud(1250, gen, device), room_cloud(1500, gen, device)
    q2500, p750 = room_cloud(2500, gen, device), room_cloud(750, gen, device)
    p10k = room_cloud(10_000, gen, device)
    c150, c750 = room_cloud(150, gen, device), room_cloud(750, gen, device)
    q20k, p5k = room_cloud(20_000, gen, device), room_cloud(5_000, gen, device)
    return [
        ("ball_query 1250 q x 1500 p, k=32, r=0.75", lambda: nb.ball_query(q1250, p1500, RADIUS, 32)),
        ("ball_query 1250 q x 1500 p, k=100, r=0.75", lambda: nb.ball_query(q1250, p1500, RADIUS, 100)),
        ("knn 2500 q x 750 p, k=5", lambda: nb.knn(q2500, p750, 5)),
        ("farthest_point_sample 10000 -> 50", lambda: ps.farthest_point_sample(p10k, 50)),
        ("farthest_point_sample 10000 -> 400", lambda: ps.farthest_point_sample(p10k, 400)),
        ("chamfer_distance 150 vs 750", lambda: ps.chamfer_distance(c150, c750)),
        ("ball_query 20000 q x 5000 p, k=100, r=0.75", lambda: nb.ball_query(q20k, p5k, RADIUS, 100)),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per case (median reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but torch.cuda.is_available() is False")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    name = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"scene_analogy.neighbors  device: {name}  torch {torch.__version__}  "
          f"median of {args.repeats} after 1 warm-up")
    rows = [(label, time_call(fn, args.repeats, args.device)) for label, fn in cases(args.device)]
    width = max(len(label) for label, _ in rows)
    print(f"{'case'.ljust(width)}  {'ms/call':>10}")
    print(f"{'-' * width}  {'-' * 10}")
    for label, ms in rows:
        print(f"{label.ljust(width)}  {ms:10.2f}")


if __name__ == "__main__":
    main()
