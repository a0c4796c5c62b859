"""Triplets that ask what evaluation pairs ask (issue 17): layout changes in the positive, same-class swaps
in the negative. All off by default (`TripletConfig`), so default triplets stay as DESIGN §4 describes.

Why: a default positive keeps the whole layout (only models swapped) and a default negative moves every
object by a large Gaussian, so a field can score well by noticing "everything moved" and never learns
what an evaluation pair (`eval_pairs.augment_scene`) tests: a kept group among removed, perturbed and
added objects, a jittered outline, and two chairs of one class to tell apart.

- positive (applied after the model swap, in this order, all reusing `eval_pairs`):
  each object dropped with probability `pos_drop_rate` (at least two stay); the others turned and moved
  by uniform noise up to `pos_rot_noise_deg` / `pos_trans_noise`; the outline jittered by up to
  `pos_floor_jitter` metres; `pos_distractors` (lo, hi) objects added at free spots (other models of
  classes the room has, so they look like the room's own objects).
  The link back is `pair_pos_idx_map`: positive object k is anchor object idx_map[k], or -1 for a
  distractor (the convention of evaluation pairs). A dropped anchor object has no positive, so it
  must not give queries (`queries.triplet_queries` reads the map).
- negative (after the Gaussian moves): for each class with two or more objects, with probability
  `neg_swap_rate`, two of its objects exchange their anchor poses (box centre and rotation), so a query
  follows its object into the other one's context. `neg_swapped` marks them: their box-grid queries
  follow the object into the negative (at the anchor place the other object of the same class now
  stands in the same context, which would be an analogy, not a negative).
"""

from __future__ import annotations

import numpy as np

from scene_analogy.data.eval_pairs import AugmentConfig, _add_distractors, _perturb_poses, _set_pose, jitter_outline
from scene_analogy.structures.scene import Scene, open_npz

LINK_KEYS = ("pair_pos_idx_map", "neg_swapped")


def changes_positive(cfg) -> bool:
    return (cfg.pos_drop_rate > 0 or cfg.pos_trans_noise > 0 or cfg.pos_rot_noise_deg > 0 or cfg.pos_floor_jitter > 0
            or cfg.pos_distractors[1] > 0)


def changes_negative(cfg) -> bool:
    return cfg.neg_swap_rate > 0


def _augment_config(cfg) -> AugmentConfig:
    """The evaluation pairs' config with the triplet's bounds, so their helpers do the work."""
    return AugmentConfig(max_trans_noise=cfg.pos_trans_noise, max_rot_noise=cfg.pos_rot_noise_deg,
                         fp_max_noise=cfg.pos_floor_jitter)


def change_positive(positive: Scene, anchor: Scene, make_lookalikes, cfg, rng: np.random.Generator) -> tuple[Scene, np.ndarray]:
    """The positive with eval-pair-like layout changes, and its idx_map to the anchor's objects.

    `make_lookalikes(scene, rng)` returns a scene of other models of the same classes, one per object
    of `scene` and on its box (`make_positive`): the distractors' source.
    """
    n = len(positive)
    keep = rng.random(n) >= cfg.pos_drop_rate
    short = min(2, n) - int(keep.sum())
    if short > 0:  # an evaluation pair always keeps a group of >= 2 objects
        keep[rng.choice(np.flatnonzero(~keep), short, replace=False)] = True
    idx_map = np.flatnonzero(keep).astype(np.int64)
    scene = positive.subset(idx_map)
    aug = _augment_config(cfg)
    if cfg.pos_trans_noise > 0 or cfg.pos_rot_noise_deg > 0:
        scene = _perturb_poses(scene, np.arange(len(scene)), aug, rng)
    if cfg.pos_floor_jitter > 0:
        scene.floor = jitter_outline(scene, aug, rng)
    lo, hi = cfg.pos_distractors
    wanted = min(int(rng.integers(lo, hi + 1)), n) if hi > 0 else 0
    if wanted:
        source = make_lookalikes(anchor.subset(rng.choice(n, wanted, replace=False)), rng)
        scene, added = _add_distractors(scene, source, wanted, aug, rng)
        idx_map = np.concatenate([idx_map, -np.ones(added, dtype=np.int64)])
    return scene, idx_map


def swap_same_class(negative: Scene, anchor: Scene, cfg, rng: np.random.Generator) -> tuple[Scene, np.ndarray]:
    """The negative with pairs of same-class objects on each other's anchor pose, and the swapped mask."""
    swapped = np.zeros(len(anchor), dtype=bool)
    for c in np.unique(anchor.class_ids):
        members = np.flatnonzero(anchor.class_ids == c)
        if len(members) < 2 or rng.random() >= cfg.neg_swap_rate:
            continue
        a, b = rng.choice(members, 2, replace=False)
        pair, other = np.array([a, b]), np.array([b, a])
        _set_pose(negative, pair, anchor.rots[other].copy(), anchor.bbox_centroids[other].copy())
        swapped[pair] = True
    return negative, swapped


def read_triplet_links(path) -> dict[str, np.ndarray]:
    """The link arrays a triplet file carries (none for default triplets)."""
    with open_npz(path) as arrays:
        return {k: np.asarray(arrays[k]) for k in LINK_KEYS if k in arrays.files}
