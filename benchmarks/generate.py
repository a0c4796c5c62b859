"""Times synthetic data generation: the object pool, point samples, triplets and evaluation pairs.

    python benchmarks/generate.py [--num_scenes 200] [--seed 0] [--repeats 1]

Prints seconds per stage and the total; the target is 200 triplets with their evaluation pairs in
under 60 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scene_analogy.synthetic import dataset  # noqa: E402


def run(num_scenes: int, seed: int) -> dict[str, float]:
    """Wraps the generator's stages with timers (same code path as the CLI)."""
    stages: dict[str, float] = {}
    originals = {name: getattr(dataset, name) for name in ("write_point_samples", "write_eval_pairs")}

    def timed(name):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = originals[name](*args, **kwargs)
            stages[name] = time.perf_counter() - start
            return out
        return wrapper

    for name in originals:
        setattr(dataset, name, timed(name))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            summary = dataset.generate_dataset(Path(tmp) / "scenes", dataset.SyntheticConfig(num_scenes=num_scenes, seed=seed), progress=False)
            total = time.perf_counter() - start
    finally:
        for name, fn in originals.items():
            setattr(dataset, name, fn)
    stages["rooms + triplets + picture"] = total - sum(stages.values())
    stages["total"] = total
    stages["models"] = summary["models"]
    stages["eval_pairs"] = summary["eval_pairs"]
    return stages


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_scenes", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()
    runs = [run(args.num_scenes, args.seed) for _ in range(args.repeats)]
    print(f"synthetic generation, {args.num_scenes} scenes, {int(runs[0]['models'])} models, "
          f"{int(runs[0]['eval_pairs'])} evaluation pairs (median of {args.repeats})")
    for key in ("write_point_samples", "rooms + triplets + picture", "write_eval_pairs", "total"):
        values = sorted(r[key] for r in runs)
        print(f"  {key:<28s} {values[len(values) // 2]:7.2f} s")
    print(f"  triplets per second          {args.num_scenes / sorted(r['total'] for r in runs)[len(runs) // 2]:7.1f}")


if __name__ == "__main__":
    main()
