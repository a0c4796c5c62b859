"""`python -m scene_analogy.evaluate`: every method on the same held-out evaluation pairs, one report.

    python -m scene_analogy.evaluate --scene_root DIR --methods ours,scene_graph,point_feature,registration \\
        --num_pairs N --out OUT

Pairs: the first N evaluation pairs of `<scene_root>_augment` (DESIGN §6), the same RoIs for every
method (drawn from --seed). Every method is scored by the same code (`evaluation.evaluate_method`)
against the same point-level ground truth. Methods: see `scene_analogy.baselines`.

Writes, atomically:
- `OUT/results.json`: {method: {metric: value}} with the keys of `metrics.summarise` (rewritten
  after each method, so a long run keeps what it has finished);
- `OUT/results.md`: a table of the main metrics, one row per method, with the command;
- `OUT/<method>/pair_<i>.png`: the same first --num_pictures pairs for every method,
  `OUT/<method>/metrics.json`, `OUT/<method>/pairs.json` (per pair: map found, cost, seconds,
  PCP@0.25, whether every RoI object went to its true reference object) and `OUT/<method>/errors.npz`
  (every scored RoI and free point's error; `scripts/protocol_report.py` plots them).
Under `python -m torch.distributed.run --nproc_per_node N -m scene_analogy.evaluate ...` the pairs
are split over N processes and rank 0 writes the same outputs (`evaluation.ranks`).
Protocol: `--keypoints` (module `structures.samples`); the pairs' yaw comes from how they were made
(`--global_yaw` of the generator), recorded in every metrics.json.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from scene_analogy.cli.boundary import user_errors
from scene_analogy.cli.flags import add_keypoints_flag, nonnegative_int, positive_int, resolve_point_sample_root, seed
from scene_analogy.evaluation.ranks import open_ranks
from scene_analogy.match.inputs import CANDIDATE_YAWS, MatchConfig


def build_parser() -> argparse.ArgumentParser:
    from scene_analogy.baselines import METHODS

    p = argparse.ArgumentParser(prog="python -m scene_analogy.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--scene_root", required=True, help="scene root; its evaluation pairs are in <root>_augment")
    p.add_argument("--methods", default="ours,scene_graph,point_feature,registration",
                   help=f"comma-separated, from: {', '.join(METHODS)} (oracle_objects is evaluation-only: "
                        "it is handed the true object correspondence; ours_untrained: random weights)")
    p.add_argument("--num_pairs", type=int, default=200, help="first N evaluation pairs")
    p.add_argument("--out", default="./log/evaluate", help="results.json, results.md and pictures go here")
    p.add_argument("--point_sample_root", default=None, help="default: <scene_root>/point_samples")
    p.add_argument("--checkpoint", default=None,
                   help="field of ours / ours_coarse / oracle_objects, and the architecture of ours_untrained "
                        "(default pretrained/synthetic_default)")
    p.add_argument("--oracle_global", default="coarse", choices=("coarse", "coarse_inliers", "boxes"),
                   help="oracle_objects' global map: our coarse stage on the true pairs (coarse_inliers: with our "
                        "inlier rule), or the similarity of the true matched box centres (baselines/oracle.py)")
    p.add_argument("--no_semantic_checkpoint", default=None, help="field of ours_no_semantic (default pretrained/no_semantic)")
    p.add_argument("--paper_checkpoint", default=None, help="paper-preset field of ours_paper (none is shipped)")
    p.add_argument("--num_pictures", type=nonnegative_int, default=4, help="pairs drawn per method")
    p.add_argument("--roi_objects", type=int, default=None,
                   help="objects per RoI (default 2-3: a random object and its 1-2 nearest); 1: single objects, "
                        "where no relation or bearing tells same-class objects apart, only the field's context")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--bearing_weight", type=float, default=MatchConfig.bearing_weight,
                   help="our coarse ranking's bearing term (match/coarse.py); 0 for boxes without a front (ARKit)")
    p.add_argument("--relation_weight", type=float, default=MatchConfig.relation_weight,
                   help="our coarse ranking's relation term (match/relations.py); 0 for boxes without a front (ARKit)")
    p.add_argument("--candidate_yaws", default=MatchConfig.candidate_yaws, choices=CANDIDATE_YAWS,
                   help="yaws of our coarse candidates: a grid of --global_num_rot, that grid turned to each "
                        "object pair's box frames, or both (match/coarse.py)")
    p.add_argument("--global_num_rot", type=positive_int, default=MatchConfig.global_num_rot,
                   help="yaws per candidate object pair and mirror (match/coarse.py)")
    p.add_argument("--nms_max_turn", type=float, default=MatchConfig.nms_max_turn,
                   help="degrees: our coarse suppression never merges candidates turned further apart (180: "
                        "footprints only; match/coarse.py)")
    p.add_argument("--context_probe_weight", type=float, default=MatchConfig.context_probe_weight,
                   help="our coarse re-ranking by the field at probes around the RoI objects (match/probes.py); 0: off")
    add_keypoints_flag(p)
    p.add_argument("--device", default="cpu")
    return p


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    command = "python -m scene_analogy.evaluate " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    start = time.perf_counter()
    with user_errors(), open_ranks() as ranks:
        from scene_analogy.baselines import METHODS, build_method
        from scene_analogy.evaluation.examples import augment_examples, pairs_protocol
        from scene_analogy.evaluation.run import compare_methods, markdown_table
        from scene_analogy.files.errors import DataError
        from scene_analogy.structures.classes import THREED_FRONT
        from scene_analogy.structures.samples import PointSamples

        names = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in names if m not in METHODS]
        if not names or unknown:
            raise DataError(None, f"--methods: unknown {unknown or 'none given'}; choose from {', '.join(METHODS)}")
        if args.num_pairs < 1:
            raise DataError(None, f"--num_pairs must be >= 1, got {args.num_pairs}")
        out = Path(args.out)
        samples = PointSamples(resolve_point_sample_root(args.point_sample_root, args.scene_root), 50)
        # The synthetic trees' class table (3D-FRONT's): data or fields of another table are refused.
        examples = augment_examples(args.scene_root, seed=args.seed, limit=args.num_pairs, roi_objects=args.roi_objects,
                                    classes=THREED_FRONT)
        if len(examples) < args.num_pairs and ranks.main:
            print(f"note: only {len(examples)} evaluation pairs under {args.scene_root}_augment")
        # Build every method first: a missing checkpoint fails before hours of matching.
        methods = {name: build_method(name, args.checkpoint, args.no_semantic_checkpoint, args.paper_checkpoint,
                                      ranks.device(args.device), args.seed, args.bearing_weight, args.relation_weight,
                                      args.oracle_global, num_classes=len(THREED_FRONT), candidate_yaws=args.candidate_yaws,
                                      global_num_rot=args.global_num_rot, nms_max_turn=args.nms_max_turn,
                                      context_probe_weight=args.context_probe_weight)
                   for name in names}
        results = compare_methods(examples, samples, methods, out, command, args.num_pictures, args.seed,
                                  keypoints=args.keypoints,
                                  protocol={**pairs_protocol("augment", args.scene_root),
                                            **({} if args.roi_objects is None else {"roi_objects": args.roi_objects})},
                                  ranks=ranks)
    if not ranks.main:
        return
    print(f"\n{markdown_table(results, command)}")
    print(f"wrote {out / 'results.json'}, {out / 'results.md'} and pictures under {out} "
          f"({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
