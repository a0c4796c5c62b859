"""The classical tool a user would reach for: open3d's FPFH features + RANSAC registration, timed on
the same pair as ours (`match.known_answer_pair`), so that `run_all.py` can print the ratio.

    python benchmarks/classical.py [--repeats 5]

What is timed (per pair, median after a warm-up): normals and FPFH (radius 0.25 m, at most 100
neighbours) of the RoI keypoints and of the reference's keypoints, then
`registration_ransac_based_on_feature_matching` (mutual filter off, 0.15 m correspondence distance,
similarity estimation, 3-point samples, edge-length 0.9 and distance checkers, 100,000 iterations at
confidence 0.999), seeded. It returns one similarity for the RoI, no dense map and no object choice:
its accuracy is the `registration` baseline's business (README, Results), not this file's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from timing import commands_policy  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

FPFH_RADIUS, FPFH_MAX_NN, NORMAL_RADIUS, CORR_DIST = 0.25, 100, 0.1, 0.15


def _cloud_and_features(points: np.ndarray):
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=NORMAL_RADIUS, max_nn=30))
    features = o3d.pipelines.registration.compute_fpfh_feature(
        cloud, o3d.geometry.KDTreeSearchParamHybrid(radius=FPFH_RADIUS, max_nn=FPFH_MAX_NN))
    return cloud, features


def fpfh_ransac(roi_points: np.ndarray, reference_points: np.ndarray, seed: int = 0) -> np.ndarray:
    """open3d FPFH + RANSAC: the 4 x 4 transform carrying the RoI points onto the reference."""
    import open3d as o3d

    reg = o3d.pipelines.registration
    o3d.utility.random.seed(seed)
    source, source_f = _cloud_and_features(roi_points)
    target, target_f = _cloud_and_features(reference_points)
    result = reg.registration_ransac_based_on_feature_matching(
        source, target, source_f, target_f, False, CORR_DIST,
        reg.TransformationEstimationPointToPoint(with_scaling=True), 3,
        [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9), reg.CorrespondenceCheckerBasedOnDistance(CORR_DIST)],
        reg.RANSACConvergenceCriteria(100000, 0.999))
    return np.asarray(result.transformation)


def seconds_per_pair(target, reference, roi, repeats: int) -> float:
    """Median seconds of `fpfh_ransac` on a MatchScene pair's RoI keypoints and reference keypoints."""
    roi_points = target.points[np.isin(target.instance, roi)]
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        fpfh_ransac(roi_points, reference.points)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    from benchmarks.match import POINTS, big_scene, known_answer_pair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(commands_policy(), flush=True)
    target, reference, roi, _ = known_answer_pair(big_scene(15), 3, 3 * POINTS, 15)
    print(f"open3d FPFH + RANSAC, RoI 3 x {POINTS} vs reference 15 x {POINTS}: "
          f"{seconds_per_pair(target, reference, roi, args.repeats):.4f} s per pair (median)")


if __name__ == "__main__":
    main()
