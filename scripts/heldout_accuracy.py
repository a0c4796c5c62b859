"""Held-out triplet accuracy of fields on any triplet root, as the trainer measures it (DESIGN §4):
test_scene_0..N-1, `--num_cache_query` cached queries per triplet (surface matches + box grid), 32 drawn
per triplet with the trainer's seeded generator. Lets fields trained on different triplets be compared
on the same ones (the trainer only reports its own root's).

    python scripts/heldout_accuracy.py --scene_root ./data/synthetic_scenes pretrained/synthetic_default untrained
"""

from __future__ import annotations

import argparse

import torch

from scene_analogy.baselines import untrained_field
from scene_analogy.data.queries import QueryConfig
from scene_analogy.field.checkpoint import load_field
from scene_analogy.training.dataset import TripletDataset, collate_triplets
from scene_analogy.training.loop import TrainConfig, validate


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("fields", nargs="+", help="checkpoint folders or files; 'untrained' = ours_untrained's weights")
    p.add_argument("--scene_root", required=True)
    p.add_argument("--val_scenes", type=int, default=64)
    p.add_argument("--num_cache_query", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cfg = TrainConfig(scene_root=args.scene_root, query_obj_match_add_bbox=True, val_scenes=args.val_scenes, seed=args.seed)
    data = TripletDataset(args.scene_root, "test", cfg.samples_root, QueryConfig("obj_match_points", True),
                          args.num_cache_query, cfg.sample_count, limit=args.val_scenes, seed=args.seed)
    batches = [collate_triplets([data[i] for i in range(s, min(s + cfg.batch_size, len(data)))])
               for s in range(0, len(data), cfg.batch_size)]
    for name in args.fields:
        field = untrained_field() if name == "untrained" else load_field(name)
        result = validate(field, batches, cfg, torch.device("cpu"))
        print(f"{name}: held-out accuracy {result['val_acc']:.3f}, loss {result['val_loss']:.3f} "
              f"({len(data)} triplets of {args.scene_root})")


if __name__ == "__main__":
    main()
