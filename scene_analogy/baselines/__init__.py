"""Baselines and ablations behind one interface: `method(target, reference, roi) -> AnalysisResult`
(MatchScenes in, `AnalogyMap`s out; see `evaluation.FieldMethod`), scored by `evaluation.evaluate_method`.

Methods (`build_method(name, ...)`):
- `ours`: the matcher with the shipped checkpoint (`pretrained/synthetic_default` unless given).
- `ours_coarse`: the same without the fine stage (the refined coarse map A x + b; `MatchConfig.fine`).
- `ours_no_semantic`: `pretrained/no_semantic` with every class erased from both scenes (one class,
  so candidates pair any objects): what the method does without semantics.
- `ours_paper`: the `paper` preset field; needs a checkpoint (none is shipped).
- `ours_untrained`: the architecture of ours' field (`--checkpoint`, default `synthetic_default`) with random weights
  (`untrained_field`, seed UNTRAINED_SEED), never rejecting: what training adds.
- `oracle_objects` (evaluation-only, `oracle.py`): ours handed the true object correspondence through
  `needs_truth` / `with_truth`; how far our point placement goes with the right objects.
- `scene_graph_assign`: the scene graph with our fine stage's point assignment (same placement as ours).
- `scene_graph`, `point_feature` (FPFH in place of the learned field, same matcher),
  `registration` (RANSAC on FPFH + CPD): `scene_graph.py`, `fpfh.py`, `registration.py`.

Baselines never answer "no analogy" from a cost threshold (they return their best map whenever they
find one), which can only help them: every evaluation pair has an analogy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from scene_analogy.field.checkpoint import PRETRAINED
from scene_analogy.match.inputs import MatchConfig, MatchScene

__all__ = ["METHODS", "build_method", "untrained_field", "without_classes", "NoSemantics"]

METHODS = ("ours", "ours_coarse", "ours_no_semantic", "ours_paper", "ours_untrained", "oracle_objects", "scene_graph",
           "scene_graph_assign", "point_feature", "registration")
BASELINE_THRES = 2.0  # descriptor distances lie in [0, 2]: "no analogy" never comes from the cost
UNTRAINED_SEED = 0  # ours_untrained's weights: docs/decisions.md, "Evaluation-only methods"


def untrained_field(seed: int = UNTRAINED_SEED, config=None, device: str = "cpu"):
    """The field of `config` (a folder or config.json; default the shipped `synthetic_default`) with the
    random initial weights of torch.manual_seed(seed), in eval mode, without a calibrated threshold. The
    global RNG is left as it was."""
    import torch

    from scene_analogy.field.checkpoint import load_config

    cfg = load_config(config or PRETRAINED / "synthetic_default")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        field = cfg.build()
    field.valid_threshold = None
    return field.to(device).eval()


def without_classes(scene: MatchScene) -> MatchScene:
    """The scene with every object of class 0 (keypoint labels 1; floor plan keeps label 0)."""
    labels = np.where(scene.instance >= 0, 1, 0)
    return dataclasses.replace(scene, labels=labels, class_ids=np.zeros_like(scene.class_ids))


class NoSemantics:
    """Runs `method` on both scenes with their classes erased (`without_classes`)."""

    def __init__(self, method):
        self.method = method

    def __call__(self, target: MatchScene, reference: MatchScene, roi):
        return self.method(without_classes(target), without_classes(reference), roi)


def build_method(name: str, checkpoint=None, no_semantic_checkpoint=None, paper_checkpoint=None,
                 device: str = "cpu", seed: int = 0, bearing_weight: float = MatchConfig.bearing_weight,
                 relation_weight: float = MatchConfig.relation_weight, oracle_global: str = "coarse",
                 num_classes: int | None = None, **match_options):
    """The evaluation callable of a method name (module docstring). Checkpoints load only here.
    `oracle_global`: the global map of oracle_objects (`oracle.GLOBAL_MAPS`); `num_classes`: the data's
    class count, which every field with class embeddings must have (None: not checked); match_options:
    other `MatchConfig` fields (e.g. candidate_yaws, global_num_rot)."""
    from scene_analogy.field.checkpoint import check_num_classes
    from scene_analogy.field.checkpoint import load_field as load_any
    from scene_analogy.files.errors import DataError
    from scene_analogy.match.pipeline import FieldMethod

    def load_field(path, map_location):
        return load_any(path, map_location=map_location, num_classes=num_classes)

    cfg = MatchConfig(device=device, bearing_weight=bearing_weight, relation_weight=relation_weight, **match_options)
    if name in ("ours", "ours_coarse"):
        field = load_field(checkpoint or PRETRAINED / "synthetic_default", map_location=device)
        return FieldMethod(field, field, cfg if name == "ours" else dataclasses.replace(cfg, fine=False))
    if name == "ours_untrained":  # an untrained field's cost scale is unknown: no rejection from it
        field = untrained_field(config=checkpoint, device=device)  # the architecture of ours' field
        check_num_classes(field.cfg, num_classes, checkpoint or PRETRAINED / "synthetic_default")
        return FieldMethod(field, field, dataclasses.replace(cfg, local_valid_thres=BASELINE_THRES))
    if name == "oracle_objects":
        from scene_analogy.baselines.oracle import OracleObjects

        field = load_field(checkpoint or PRETRAINED / "synthetic_default", map_location=device)
        return OracleObjects(field, field, dataclasses.replace(cfg, local_valid_thres=BASELINE_THRES), oracle_global)
    if name == "ours_no_semantic":
        field = load_field(no_semantic_checkpoint or PRETRAINED / "no_semantic", map_location=device)
        return NoSemantics(FieldMethod(field, field, cfg))
    if name == "ours_paper":
        if paper_checkpoint is None:
            raise DataError(None, "method ours_paper needs --paper_checkpoint (no paper-preset checkpoint is shipped)")
        field = load_field(paper_checkpoint, map_location=device)
        return FieldMethod(field, field, cfg)
    if name in ("scene_graph", "scene_graph_assign"):
        from scene_analogy.baselines.scene_graph import SceneGraphMatcher

        return SceneGraphMatcher(smoothing=cfg.local_rbf_smoothing, assign=name == "scene_graph_assign",
                                 assign_max_points=cfg.assign_max_points)
    if name == "point_feature":
        from scene_analogy.baselines.fpfh import FPFHField

        field = FPFHField()
        return FieldMethod(field, field, dataclasses.replace(cfg, local_valid_thres=BASELINE_THRES))
    if name == "registration":
        from scene_analogy.baselines.registration import Registration

        return Registration(smoothing=cfg.local_rbf_smoothing, seed=seed)
    raise DataError(None, f"unknown method {name!r}; choose from {', '.join(METHODS)}")
