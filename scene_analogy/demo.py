"""`python -m scene_analogy.demo`: the README's main job on the embedded synthetic data.

Until the matcher lands, the demo generates the synthetic dataset (when absent), then draws one
training triplet and one evaluation pair from it under `--log_dir`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .cli import user_errors
from .scene import read_eval_pair, read_triplet, scene_dirs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scene_analogy.demo", description=__doc__.splitlines()[0])
    p.add_argument("--scene_root", default="./data/synthetic_demo", help="synthetic data (generated when absent)")
    p.add_argument("--num_scenes", type=int, default=40, help="rooms to generate when the data is absent")
    p.add_argument("--log_dir", default="./log/demo/", help="where the pictures go")
    p.add_argument("--seed", type=int, default=0)
    return p


def _has_dataset(root: Path) -> bool:
    return (root / "object_pool.json").is_file() and bool(scene_dirs(root, "test"))


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    with user_errors():
        root = Path(args.scene_root)
        if not _has_dataset(root):
            from .synthetic.dataset import SyntheticConfig, generate_dataset

            summary = generate_dataset(root, SyntheticConfig(num_scenes=args.num_scenes, seed=args.seed))
            print(f"generated {summary} under {root}")
        from .vis import save_pair_topdown, save_triplet_topdown

        test_dirs = scene_dirs(root, "test")
        first = test_dirs[0]
        out = Path(args.log_dir)
        save_triplet_topdown(read_triplet(first / "scene.npz"), out / "triplet.png")
        aug = root.parent / f"{root.name}_augment" / first.name / "scene.npz"
        reference = read_triplet(first / "scene.npz", ("pos",))["pos"]
        save_pair_topdown(read_eval_pair(aug), reference, out / "eval_pair.png")
    print(f"wrote {out / 'triplet.png'} and {out / 'eval_pair.png'} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
