"""Regenerate the shipped sample pair `examples/own_pair/` (deterministic):

    python examples/make_own_pair.py

A procedural room (`scene_analogy.own_pairs.make_pair`, seed 7) as `target.ply`; `reference.ply`
is the same room turned by 2 rad about +y, mirrored in x, scaled by 1.15 and shifted by (4, 0, -3),
with two objects removed and three others added. Both are PLY clouds with `instance` and `label`
vertex properties (3D-FRONT class ids), y up, metres, 600 surface points per object. Also written: a
trajectory through the region of interest (`trajectory.csv`: x, y, z, yaw), a small box mesh with a
pose in the target (`box.obj`, `box_pose.json`) and `truth.json` (the RoI ids, the true map
x -> A x + b and which reference object each kept target object became).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import trimesh

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scene_analogy.files import atomic  # noqa: E402
from scene_analogy.fixtures.user_scene_pairs import PairConfig, make_pair, write_scene  # noqa: E402

OUT = Path(__file__).resolve().parent / "own_pair"


def main() -> None:
    pair = make_pair(PairConfig(seed=7, points_per_object=600))
    OUT.mkdir(parents=True, exist_ok=True)
    write_scene(pair.target, OUT / "target.ply", "ply")
    write_scene(pair.reference, OUT / "reference.ply", "ply")
    rows = "".join(f"{p[0]:.4f},{p[1]:.4f},{p[2]:.4f},{y:.4f}\n" for p, y in zip(pair.trajectory, pair.trajectory_yaw))
    atomic.write_text(OUT / "trajectory.csv", "x,y,z,yaw\n" + rows)
    mesh = trimesh.creation.box(extents=[0.3, 0.3, 0.3])
    mesh.apply_translation([0, 0.15, 0])  # resting on its own origin
    with atomic.atomic_path(OUT / "box.obj", suffix=".obj") as tmp:
        mesh.export(tmp, file_type="obj")
    middle = pair.trajectory[len(pair.trajectory) // 2]
    atomic.write_json(OUT / "box_pose.json", {"position": [round(float(v), 4) for v in (middle[0], 0.0, middle[2])],
                                             "yaw": 0.5})
    atomic.write_json(OUT / "truth.json", {
        "roi_ids": pair.roi_ids.tolist(), "linear": np.round(pair.linear, 6).tolist(),
        "offset": pair.offset.tolist(), "reference_id_of_target_id": {str(k): v for k, v in pair.same_object.items()}})
    print(f"wrote {OUT}: RoI ids {' '.join(map(str, pair.roi_ids))}")


if __name__ == "__main__":
    main()
