"""`python -m scene_analogy.demo`: the README's main job, on the embedded synthetic data.

Generates held-out synthetic evaluation pairs when absent (a few seconds), loads the shipped
checkpoint, finds the analogy map of each pair's region of interest, prints the DESIGN §6 metrics
with seconds per pair, and writes `metrics.json`, the maps (`maps/*.npz`) and pictures
(`pair_<i>.png`) under `--log_dir`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .cli import user_errors
from .scene import scene_dirs

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "pretrained" / "synthetic_default"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scene_analogy.demo", description=__doc__.splitlines()[0])
    p.add_argument("--scene_root", default="./data/synthetic_demo", help="synthetic data (generated when absent)")
    p.add_argument("--num_pairs", type=int, default=20, help="evaluation pairs to match")
    p.add_argument("--log_dir", default="./log/demo/", help="metrics, maps and pictures go here")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="field checkpoint (folder or model.pth)")
    p.add_argument("--num_pictures", type=int, default=4, help="pairs drawn as PNG")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    return p


def ensure_pairs(root: Path, num_pairs: int, seed: int) -> None:
    """Generate a small held-out set when the root has fewer evaluation pairs than asked for."""
    aug = root.parent / f"{root.name}_augment"
    if (root / "object_pool.json").is_file() and aug.is_dir() and len(scene_dirs(aug, "test")) >= num_pairs:
        return
    from .synthetic.dataset import SyntheticConfig, generate_dataset

    # Only held-out scenes are needed here (training has its own data): half train keeps swaps possible.
    cfg = SyntheticConfig(num_scenes=max(2 * num_pairs, 8), seed=seed, train_ratio=0.5, sample_counts=(50,))
    summary = generate_dataset(root, cfg)
    print(f"generated {summary['eval_pairs']} evaluation pairs under {aug}")


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    with user_errors():
        from .evaluation import augment_examples, evaluate_examples
        from .field_match import save_pair_pictures
        from .field import load_field
        from .match.inputs import MatchConfig
        from .metrics import format_table, write_metrics_json
        from .samples import PointSamples

        root, out = Path(args.scene_root), Path(args.log_dir)
        field = load_field(args.checkpoint, map_location=args.device)  # fail fast, before generating data
        ensure_pairs(root, args.num_pairs, args.seed)
        samples = PointSamples(root / "point_samples", 50)
        examples = augment_examples(root, seed=args.seed, limit=args.num_pairs)
        cfg = MatchConfig(device=args.device)
        torch.manual_seed(args.seed)
        metrics, records, results = evaluate_examples(examples, samples, field, field, cfg, maps_dir=out / "maps")
        save_pair_pictures(examples, records, results, samples, out, args.num_pictures)
        write_metrics_json(out / "metrics.json", metrics)
    print(format_table(metrics))
    print(f"wrote {out / 'metrics.json'}, {min(args.num_pictures, len(examples))} pictures and the maps under {out} "
          f"({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
