"""Flag groups of the commands (DESIGN §9): the published names and defaults, and the one place where
flags become configs (`FieldConfig`, `TrainConfig`, `MatchConfig`, generator configs)."""

from __future__ import annotations

import os


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"expected an integer >= 0, got {text}")
    return value


def seed(text: str) -> int:
    """A seed: numpy's generators take integers >= 0, torch's below 2^63."""
    value = nonnegative_int(text)
    if value >= 1 << 63:
        raise ValueError(f"expected a seed below 2^63, got {text}")
    return value


def instance_id(text: str) -> int:
    """An instance id as the scene files store it (int64)."""
    value = int(text)
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError(f"expected a 64-bit integer, got {text}")
    return value


def add_picture_flags(p) -> None:
    """Flags of the analogy pictures (`vis.match_pictures.save_analogy_png`): the demo and the own-data command."""
    p.add_argument("--show_candidates", action="store_true",
                   help="also draw the coarse candidates' warped RoI boxes (dashed) in the pictures' reference panel")


def resolve_point_sample_root(given: str | None, scene_root: str, dataset_default: str | None = None) -> str:
    """`--point_sample_root` when given; else `<scene_root>/point_samples` when that folder exists (the
    synthetic layout); else the dataset's own samples folder (where its sampler writes)."""
    if given:
        return given
    inside = os.path.join(scene_root, "point_samples")
    return inside if os.path.isdir(inside) or dataset_default is None else dataset_default


def add_trainer_flags(p, preset_default: str, point_sample_root_default: str | None = None) -> None:
    """The published trainer flags (DESIGN §9) plus ours (`--preset`, `--steps`, `--device`, ...).

    Architecture flags default to None so that the chosen preset decides; a flag given overrides it.
    """
    p.add_argument("--scene_root", required=True, help="triplet folders {train,test}_scene_<i>")
    p.add_argument("--point_sample_root", default=None, help="default: <scene_root>/point_samples if it exists, "
                   f"else {point_sample_root_default or '<scene_root>/point_samples'}")
    p.add_argument("--log_dir", default="./log/")
    p.add_argument("--run_name", default="train")
    p.add_argument("--wandb", action="store_true", help="log to Weights & Biases (offline without credentials)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--preset", choices=("paper", "fast"), default=preset_default)
    p.add_argument("--normalize_feats", action="store_true", help="L2-normalise descriptors (always on; kept for the published commands)")
    p.add_argument("--agg_radius", type=float, default=None, help="neighbourhood radius in metres")
    p.add_argument("--agg_radius_limit", type=int, default=None, help="at most this many nearest neighbours")
    p.add_argument("--neighbor_pool", type=int, default=None,
                   help="spread the --agg_radius_limit neighbours over this many nearest (0 = the nearest)")
    p.add_argument("--num_cache_query", type=int, default=400)
    p.add_argument("--query_point_type", default="obj_match_points", choices=("obj_match_points", "bbox_grid"))
    p.add_argument("--query_obj_match_add_bbox", action="store_true")
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("--epochs", type=int, default=None, help="passes over the training triplets")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (overrides --epochs)")
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--infonce_temp", type=float, default=0.2)
    p.add_argument("--num_sample_query", type=int, default=32)
    p.add_argument("--num_classes", type=int, default=None)
    p.add_argument("--semantics_emb_size", type=int, default=None, help="0 = semantics-free")
    p.add_argument("--distance_emb_size", type=int, default=None)
    p.add_argument("--distance_hidden", type=int, default=None, help="hidden width of the distance MLP")
    p.add_argument("--transformer_num_layers", type=int, default=None)
    p.add_argument("--transformer_num_heads", type=int, default=None)
    p.add_argument("--transformer_feedforward", type=int, default=None)
    p.add_argument("--out_dim", type=int, default=None)
    p.add_argument("--dropout", type=float, default=None, help="encoder dropout (training only)")
    p.add_argument("--load_feature_field", default=None, help="start from this checkpoint")
    p.add_argument("--val_every", type=int, default=100)
    p.add_argument("--val_scenes", type=int, default=32)
    p.add_argument("--num_workers", type=int, default=1)
    p.add_argument("--device", default="cpu")


FIELD_FLAGS = {  # published flag -> FieldConfig field
    "agg_radius": "radius", "agg_radius_limit": "max_neighbors", "num_classes": "num_classes",
    "semantics_emb_size": "semantics_emb_size", "distance_emb_size": "distance_emb_size",
    "transformer_num_layers": "num_layers", "transformer_num_heads": "num_heads",
    "transformer_feedforward": "feedforward", "out_dim": "out_dim",
    # ours, not in the published trainer:
    "neighbor_pool": "neighbor_pool", "distance_hidden": "distance_hidden", "dropout": "dropout",
}


def field_config_from_args(args):
    import dataclasses

    from scene_analogy.field.model import PRESETS

    overrides = {field: getattr(args, flag) for flag, field in FIELD_FLAGS.items() if getattr(args, flag) is not None}
    return dataclasses.replace(PRESETS[args.preset], **overrides)


def train_config_from_args(args, num_train_triplets: int):
    from scene_analogy.training.loop import TrainConfig

    # A step takes batch_size triplets on each of the torchrun processes (each reads its own share).
    per_epoch = max(1, num_train_triplets // (args.batch_size * int(os.environ.get("WORLD_SIZE", "1"))))
    if args.steps is not None:
        steps = args.steps
    elif args.epochs is not None:
        steps = args.epochs * per_epoch
    else:
        steps = 100 * per_epoch  # the published default: 100 epochs
    return TrainConfig(
        scene_root=args.scene_root, point_sample_root=args.point_sample_root, log_dir=args.log_dir,
        run_name=args.run_name, steps=steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
        infonce_temp=args.infonce_temp, num_sample_query=args.num_sample_query, num_cache_query=args.num_cache_query,
        query_point_type=args.query_point_type, query_obj_match_add_bbox=args.query_obj_match_add_bbox,
        val_every=args.val_every, ckpt_every=args.val_every, val_scenes=args.val_scenes, seed=args.seed,
        wandb=args.wandb, device=args.device, num_workers=args.num_workers, load_feature_field=args.load_feature_field,
    )


# -- the dataset commands' flags (DESIGN §9): names and defaults of the published release ----------------


def add_sample_flags(p, obj_root_default: str | None, save_root_default: str) -> None:
    """`extract_point_samples`: mesh folder in, `sample_<N>/<model_id>.npy` out."""
    p.add_argument("--obj_root", default=obj_root_default,
                   help="object models" + (f" (default {obj_root_default})" if obj_root_default else ""))
    p.add_argument("--save_root", default=save_root_default, help="where sample_<N>/ folders go")
    p.add_argument("--mesh_num_samples", type=positive_int, default=10000, help="area-weighted surface samples per mesh")
    p.add_argument("--save_num_samples", type=positive_int, nargs="+", default=[50],
                   help="farthest-point subsets to save (one sample_<N> folder each)")
    p.add_argument("--seed", type=seed, default=0)


def add_asset_gen_flags(p, scene_root_default: str, save_root_default: str) -> None:
    """`main_asset_gen`: raw scans with box annotations in; object assets and scan scenes out."""
    p.add_argument("--scene_root", default=scene_root_default, help="raw scans, in {train,test}/<scan>/ folders")
    p.add_argument("--save_root", default=save_root_default, help="objects/ and scenes/ go here")
    p.add_argument("--crop_margin", type=float, default=0.03, help="boxes grow by this much (m) when cropping the scan")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_scene_gen_flags(p, *, scene_root_default: str, save_root_default: str, point_sample_root_default: str,
                        obj_root_default: str | None = None, model_info_default: str | None = None) -> None:
    """`main_scene_gen`: source layouts + object pool in, training triplets out."""
    from scene_analogy.data.triplets import RESCALING_METHODS

    p.add_argument("--obj_root", default=obj_root_default, help="object models")
    p.add_argument("--scene_root", default=scene_root_default, help="source scene layouts")
    p.add_argument("--obj_model_info_path", default=model_info_default, help="model classes (default: in --obj_root)")
    p.add_argument("--num_scenes", type=int, default=-1, help="triplets to write (-1: one per source room)")
    p.add_argument("--num_load_layout", type=int, default=-1, help="source rooms to load at most (-1: all)")
    p.add_argument("--save_root", default=save_root_default, help="output scene root")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--max_trans_noise", type=float, default=0.1, help="negatives: sigma of the xz shift per axis (m)")
    p.add_argument("--max_rot_noise", type=float, default=22.5, help="negatives: sigma of the yaw noise (degrees)")
    p.add_argument("--train_ratio", type=float, default=0.9, help="share of source rooms (and models) for training")
    p.add_argument("--rescaling_method", default="box_scale", choices=RESCALING_METHODS)
    p.add_argument("--topk_aspect_sampling", type=positive_int, default=100, help="swap among this many nearest aspects")
    p.add_argument("--ignore_subclass", action="store_true", help="swap within the class, never preferring the subclass")
    p.add_argument("--point_sample_root", default=point_sample_root_default,
                   help="the point sampler's output, whose model_boxes.json saves reading every mesh again")
    add_triplet_layout_flags(p)


def add_triplet_layout_flags(p) -> None:
    """Eval-pair-like triplets (`data.triplet_layout_changes`); the defaults keep DESIGN §4's triplets."""
    g = p.add_argument_group("eval-pair-like triplets (off by default)")
    g.add_argument("--pos_drop_rate", type=float, default=0.0, help="positive: probability that an object is left out")
    g.add_argument("--pos_trans_noise", type=float, default=0.0, help="positive: xz shift bound per object (m)")
    g.add_argument("--pos_rot_noise", type=float, default=0.0, help="positive: yaw bound per object (degrees)")
    g.add_argument("--pos_floor_jitter", type=float, default=0.0, help="positive: outline edge shift bound (m)")
    g.add_argument("--pos_distractors", type=int, nargs=2, default=[0, 0], metavar=("LO", "HI"),
                   help="positive: add LO..HI objects of the room's classes at free spots")
    g.add_argument("--neg_swap_rate", type=float, default=0.0,
                   help="negative: per class with >= 2 objects, probability that two of them swap poses")


def triplet_layout_kwargs(args) -> dict:
    """The `TripletConfig` fields of `add_triplet_layout_flags`."""
    return {"pos_drop_rate": args.pos_drop_rate, "pos_trans_noise": args.pos_trans_noise,
            "pos_rot_noise_deg": args.pos_rot_noise, "pos_floor_jitter": args.pos_floor_jitter,
            "pos_distractors": tuple(args.pos_distractors), "neg_swap_rate": args.neg_swap_rate}


def scene_gen_config_from_args(args):
    from scene_analogy.data.triplets import SceneGenConfig, TripletConfig

    triplet = TripletConfig(trans_noise=args.max_trans_noise, rot_noise_deg=args.max_rot_noise,
                            rescaling_method=args.rescaling_method, topk_aspect_sampling=args.topk_aspect_sampling,
                            ignore_subclass=args.ignore_subclass, **triplet_layout_kwargs(args))
    return SceneGenConfig(num_scenes=args.num_scenes, train_ratio=args.train_ratio, seed=args.seed, triplet=triplet)


def add_augment_flags(p, orig_scene_root_default: str | None = None) -> None:
    """`main_scene_augment`: a triplet root in, evaluation pairs with ground truth out."""
    p.add_argument("--orig_scene_root", default=orig_scene_root_default, required=orig_scene_root_default is None)
    p.add_argument("--save_root", default=None, help="default: <orig_scene_root>_augment")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--global_num_rot", type=positive_int, default=4,
                   help="grid yaws: target orientations k * 360 / n, each +- mirror")
    add_global_yaw_flag(p)
    p.add_argument("--fp_max_perturb_rate", type=float, default=0.4, help="share of outline edges moved")
    p.add_argument("--fp_max_noise", type=float, default=0.3, help="outline edges move by at most this (m)")
    p.add_argument("--num_group_keep_range", type=int, nargs=2, default=[2, 4], help="objects kept exactly")
    p.add_argument("--num_pose_perturb_rate", type=float, default=0.5, help="share of other objects re-inserted")
    p.add_argument("--max_trans_noise", type=float, default=0.05, help="re-inserted objects: shift bound (m)")
    p.add_argument("--max_rot_noise", type=float, default=10.0, help="re-inserted objects: yaw bound (degrees)")
    p.add_argument("--num_match_obj_add_range", type=int, nargs=2, default=[2, 5], help="distractors added")


def add_global_yaw_flag(p, default: str = "grid") -> None:
    """`--global_yaw` of the evaluation-pair generators (`main_scene_augment`, `scene_analogy.synthetic`,
    the demo's own data)."""
    from scene_analogy.data.eval_pairs import GLOBAL_YAWS

    p.add_argument("--global_yaw", choices=GLOBAL_YAWS, default=default,
                   help="yaw of each evaluation target: grid = k * 360 / global_num_rot degrees (k x 90 by default, "
                        "the matcher's own candidate yaws), continuous = uniform in [0, 360) degrees, as real scans "
                        "stand; each +- mirror. Recorded in the pairs folder's augment_config.json")


def augment_config_from_args(args):
    from scene_analogy.data.eval_pairs import AugmentConfig

    return AugmentConfig(
        global_num_rot=args.global_num_rot, fp_max_perturb_rate=args.fp_max_perturb_rate, fp_max_noise=args.fp_max_noise,
        num_group_keep_range=tuple(args.num_group_keep_range), num_pose_perturb_rate=args.num_pose_perturb_rate,
        max_trans_noise=args.max_trans_noise, max_rot_noise=args.max_rot_noise,
        num_match_obj_add_range=tuple(args.num_match_obj_add_range), global_yaw=args.global_yaw,
    )


def add_keypoints_flag(p) -> None:
    """`--keypoints disjoint|shared`: how each reference object reaches the method (structures/samples.py)."""
    from scene_analogy.structures.samples import KEYPOINT_MODES

    p.add_argument("--keypoints", default="disjoint", choices=KEYPOINT_MODES,
                   help="disjoint (default): every reference object reaches the method at points of its model that "
                        "the ground truth does not use (rows N..2N-1 of sample_<2N>); shared: at the ground truth's "
                        "own points (the paper's protocol)")


def add_match_flags(p, checkpoint_default: str, point_sample_root_default: str | None) -> None:
    """`main_field_match`: a scene root, pairs of a chosen type and a field in; metrics, maps, PNGs out.

    Flags that only tuned the published code's GPU batching (`--num_vert_split`, `--batch_size`) or
    steered its on-screen viewer (`--vis_method`, `--vis_local_match_mode`) are accepted: the former
    change nothing here, the latter give PNG pictures of every pair under --log_dir.
    """
    from scene_analogy.evaluation.examples import PAIR_TYPES
    from scene_analogy.evaluation.metrics import BIJECTIVITY_ACC_THRES, CHAMFER_ACC_THRES, MAP_ACC_THRES
    from scene_analogy.match.inputs import LOCAL_ASSIGN_MODES, LOCAL_DISPLACEMENTS, MatchConfig

    p.add_argument("--scene_root", required=True, help="triplet folders (augmented pairs in <scene_root>_augment)")
    p.add_argument("--point_sample_root", default=None, help="default: <scene_root>/point_samples if it exists, "
                   f"else {point_sample_root_default}")
    p.add_argument("--log_dir", default="./log/", help="metrics.json, pairs.json, maps/ and pictures go here")
    p.add_argument("--load_local_feature_field", default=None, help=f"field for the fine stage (default {checkpoint_default})")
    p.add_argument("--load_global_feature_field", default=None, help="field for the coarse stage (default: the local one)")
    p.add_argument("--scene_pair_type", default="augment", choices=PAIR_TYPES)
    p.add_argument("--scene_pair_file", default=None, help="pair file (TSV) for --scene_pair_type manual")
    p.add_argument("--scene_buffer_size", type=int, default=-1, help="scene folders to use (-1: all)")
    p.add_argument("--batch_size", type=positive_int, default=1, help="accepted; pairs are matched one at a time")
    p.add_argument("--num_vert_split", type=positive_int, default=1, help="accepted; GPU batching of the published code")
    p.add_argument("--eval_reps", type=positive_int, default=1, help="evaluation passes, RoIs drawn with seed + pass")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--global_num_rot", type=positive_int, default=4)
    p.add_argument("--candidate_yaws", default=None, choices=("grid", "boxes", "both"),
                   help="yaws of the coarse candidates: the grid of --global_num_rot, that grid turned to each "
                        "object pair's box frames, or both (match/coarse.py; default: MatchConfig's)")
    p.add_argument("--global_dist_valid_thres", type=float, default=1.5)
    p.add_argument("--global_mapping_type", default="scale_rot", choices=("scale_rot", "affine"))
    p.add_argument("--global_topk", type=positive_int, default=30)
    p.add_argument("--local_rbf_smoothing", type=float, default=0.5, help="spline smoothing (MatchConfig)")
    p.add_argument("--local_assign", default="snap", choices=LOCAL_ASSIGN_MODES,
                   help="one-to-one assignment of the fine stage's points to reference keypoints (match/local.py)")
    p.add_argument("--local_displacement", default=MatchConfig.local_displacement, choices=LOCAL_DISPLACEMENTS,
                   help="the fine stage's displacement: object box maps blended by distance (parts) or one "
                        "thin-plate spline over the RoI points (match/local.py)")
    p.add_argument("--bearing_weight", type=float, default=None,
                   help="coarse ranking: cost + this x the objects' bearing mismatch (match/coarse.py); "
                        "default 0.5 where boxes carry the objects' own frames (3D-FRONT), 0 otherwise (ARKit)")
    p.add_argument("--relation_weight", type=float, default=None,
                   help="coarse ranking: + this x the matched objects' relation mismatch (match/relations.py); "
                        "default MatchConfig.relation_weight where boxes carry the objects' own frames, 0 otherwise")
    p.add_argument("--local_valid_thres", type=float, default=None,
                   help="no analogy above this cost; default: the one calibrated for the local field "
                        "(calibration.json beside its checkpoint), else 0.6")
    p.add_argument("--query_point_type", default="obj_match_points", choices=("obj_match_points",),
                   help="RoI points: each RoI object's surface samples")
    p.add_argument("--num_query", type=positive_int, default=50, help="RoI points per object (a sample_<N> folder)")
    add_keypoints_flag(p)
    p.add_argument("--map_acc_thres", type=float, nargs="+", default=list(MAP_ACC_THRES))
    p.add_argument("--bijectivity_acc_thres", type=float, nargs="+", default=list(BIJECTIVITY_ACC_THRES))
    p.add_argument("--chamfer_acc_thres", type=float, nargs="+", default=list(CHAMFER_ACC_THRES))
    p.add_argument("--vis_method", default=None, help="accepted (e.g. screen): every pair is drawn as a PNG")
    p.add_argument("--vis_local_match_mode", default=None, help="accepted (e.g. intra_match): every pair is drawn as a PNG")
    p.add_argument("--num_vis", type=int, default=4, help="pairs drawn when no --vis_* flag is given")
    p.add_argument("--allow_pickle", action="store_true",
                   help="read the authors' pickled pair_pos_idx_map (pickle can run code: only for files you trust)")
    p.add_argument("--device", default="cpu")


def match_config_from_args(args, canonical_boxes: bool = True):
    from scene_analogy.match.inputs import MatchConfig

    # Each term the user did not set follows the boxes (MatchConfig.front_terms).
    terms = MatchConfig.front_terms(canonical_boxes)
    bearing = terms["bearing_weight"] if args.bearing_weight is None else args.bearing_weight
    relation = terms["relation_weight"] if args.relation_weight is None else args.relation_weight
    yaws = {} if args.candidate_yaws is None else {"candidate_yaws": args.candidate_yaws}
    return MatchConfig(**yaws, global_num_rot=args.global_num_rot, global_dist_valid_thres=args.global_dist_valid_thres,
                       global_mapping_type=args.global_mapping_type, global_topk=args.global_topk,
                       local_rbf_smoothing=args.local_rbf_smoothing, local_valid_thres=args.local_valid_thres,
                       local_assign=args.local_assign, local_displacement=args.local_displacement,
                       bearing_weight=bearing, relation_weight=relation, device=args.device)


def thresholds_from_args(args) -> dict:
    """Keyword arguments of `metrics.summarise`."""
    return {"map_thresholds": tuple(args.map_acc_thres), "bijectivity_thresholds": tuple(args.bijectivity_acc_thres),
            "chamfer_thresholds": tuple(args.chamfer_acc_thres)}
