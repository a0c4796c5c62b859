"""Right objects of the coarse ranking's first map for a sweep of bearing / relation weights, offline.

    python benchmarks/relation_sweep.py CALIB_ROOT [NUM_PAIRS]

Runs the coarse stage once per evaluation pair (weights 0: every map with the most inliers comes back)
and re-ranks its maps by cost + wb x bearing + wr x relation term for every (wb, wr, term) of the
sweep. With fine_candidates = topk_maps = 1 the chosen map's object correspondence is exactly the first
coarse map's, so this is our matcher's right_objects (less pairs the no-analogy threshold rejects).
The ground truth only scores the sweep; the ranking never sees it. Calibration roots only (STYLE §9).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import torch

from scene_analogy.evaluation.examples import augment_examples
from scene_analogy.evaluation.loop import match_scene
from scene_analogy.field.checkpoint import load_field
from scene_analogy.match.coarse import bearing_mismatch, run_coarse
from scene_analogy.match.inputs import MatchConfig, pad_objects
from scene_analogy.match.pipeline import _boxes, _describe, refine_subset
from scene_analogy.match.relations import edge_costs, node_cost
from scene_analogy.structures.samples import PointSamples

TERMS = ("edge", "edge+node", "node")


def coarse_maps(target, reference, roi, field, cfg):
    roi_index, roi_mask = pad_objects(target, roi)
    roi_flat = target.points[roi_index[roi_mask]]
    ref_obj = np.nonzero(reference.instance >= 0)[0]
    f_roi = _describe(field, target, roi_flat, "cpu")
    f_ref = _describe(field, reference, reference.points[ref_obj], "cpu")
    roi_box, ref_box = _boxes(target, roi, "cpu"), _boxes(reference, slice(None), "cpu")
    coarse = run_coarse(torch.as_tensor(roi_flat), f_roi, roi_box, torch.as_tensor(target.class_ids[roi]),
                        torch.as_tensor(reference.points[ref_obj]), f_ref, ref_box,
                        torch.as_tensor(reference.class_ids), cfg,
                        refine_subset(torch.as_tensor(target.points[roi_index]), torch.as_tensor(roi_mask),
                                      cfg.refine_points))
    bearing = bearing_mismatch(coarse.linear, coarse.match, roi_box[2], ref_box[2])
    d = lambda b: tuple(x.double() for x in b)  # noqa: E731
    rb, fb = d(roi_box), d(ref_box)
    edge = edge_costs(rb[0], rb[2], fb[0], fb[2], coarse.match).min(1).values
    node = node_cost(rb[1], fb[1], coarse.match)
    return coarse.cost.double(), bearing.double(), {"edge": edge, "node": node, "edge+node": edge + node}, coarse.match


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    root, num = argv[0], int(argv[1]) if len(argv) > 1 else 60
    field = load_field("pretrained/synthetic_default", map_location="cpu")
    cfg = dataclasses.replace(MatchConfig(), bearing_weight=0.0, relation_weight=0.0)
    samples = PointSamples(f"{root}/point_samples", 50)
    ref_samples = samples.with_keypoints("disjoint")
    rows = []
    for ex in augment_examples(root, seed=0, limit=num):
        target, reference = match_scene(ex.target, samples), match_scene(ex.reference, ref_samples)
        cost, bearing, terms, match = coarse_maps(target, reference, np.asarray(ex.roi), field, cfg)
        right = (match == torch.as_tensor(ex.gt_objects)[None]).all(1)
        rows.append((cost, bearing, terms, right))
    print(f"{root}: {len(rows)} pairs; a right map among the coarse maps: "
          f"{np.mean([bool(r[3].any()) for r in rows]):.3f}")
    for term in TERMS:
        for wb in (0.0, 0.5):
            line = []
            for wr in (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0):
                hits = [bool(r[3][torch.argmin(r[0] + wb * r[1] + wr * r[2][term])]) if len(r[0]) else False
                        for r in rows]
                line.append(f"{wr:g}: {np.mean(hits):.3f}")
            print(f"{term:10s} bearing {wb:g} | relation " + "  ".join(line))


if __name__ == "__main__":
    main()
