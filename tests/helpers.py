"""Small scenes and pools built in memory, independent of the procedural generators."""

from __future__ import annotations

import numpy as np

from scene_analogy.ops.geometry import yaw_matrix
from scene_analogy.structures.classes import THREED_FRONT
from scene_analogy.structures.pool import ModelInfo, ObjectPool
from scene_analogy.structures.scene import FloorPlan, Scene


def stub_pool(models_per_class: int = 6, seed: int = 0) -> ObjectPool:
    """Box-shaped models for every 3D-FRONT class in both splits; some with off-centre boxes."""
    rng = np.random.default_rng(seed)
    rows = []
    for c, name in enumerate(THREED_FRONT.names):
        for k in range(models_per_class):
            size = rng.uniform(0.3, 2.0, 3)
            offset = rng.uniform(-0.1, 0.1, 3) * (k % 2)  # odd models: canonical box not centred
            lo = -size / 2 + offset
            lo[1] = offset[1]
            rows.append(ModelInfo(
                f"m{c}_{k}", c, name, f"sub{k % 2}", "train" if k < models_per_class - 2 else "test",
                tuple(lo), tuple(lo + size),
            ))
    return ObjectPool(rows)


def random_scene(pool: ObjectPool, num_objects: int, rng: np.random.Generator, split: str = "train") -> Scene:
    """Objects of random classes at random poses in a 6 m x 5 m room (collisions allowed)."""
    models = pool.select(split=split)
    picks = [models[i] for i in rng.choice(len(models), num_objects)]
    scales = rng.uniform(0.8, 1.2, (num_objects, 3))
    rots = yaw_matrix(rng.uniform(0, 2 * np.pi, num_objects))
    trans = np.c_[rng.uniform(0.5, 5.5, num_objects), np.zeros(num_objects), rng.uniform(0.5, 4.5, num_objects)]
    centres = np.stack([m.centre for m in picks]) * scales
    outline = np.array([[0, 0], [6, 0], [6, 5], [0, 5]], dtype=float)
    return Scene(
        [m.model_id for m in picks], [m.class_id for m in picks], [m.class_name for m in picks],
        np.stack([m.size for m in picks]) * scales, np.einsum("nij,nj->ni", rots, centres) + trans,
        scales, rots, trans, FloorPlan.from_polygons([outline], 0.0, 2.8),
    )


def write_box_samples(pool: ObjectPool, root, count: int = 50, seed: int = 0) -> None:
    """Random points inside each model's canonical box, in the sample_<N> layout, with sample_<2N>
    (whose first N rows are sample_<N>) for the disjoint keypoints."""
    from scene_analogy.structures.samples import write_samples

    rng = np.random.default_rng(seed)
    for m in pool.models:
        pts = (np.asarray(m.bbox_min) + rng.random((2 * count, 3)) * m.size).astype(np.float32)
        write_samples(root, m.model_id, {count: pts[:count], 2 * count: pts})


def write_tiny_triplet_root(root, num_train: int = 8, num_test: int = 4, seed: int = 0, count: int = 50):
    """A scene root with stub-pool triplets and box samples: enough to train on in seconds."""
    from pathlib import Path

    from scene_analogy.data.triplets import SwapSampler, TripletConfig, make_triplet
    from scene_analogy.structures.scene import write_triplet

    root = Path(root)
    pool = stub_pool()
    write_box_samples(pool, root / "point_samples", count, seed)
    cfg = TripletConfig(trans_noise=0.5, rot_noise_deg=90.0)
    rng = np.random.default_rng(seed)
    for split, n in (("train", num_train), ("test", num_test)):
        sampler = SwapSampler(pool, split, cfg)
        for i in range(n):
            anchor = random_scene(pool, int(rng.integers(4, 9)), rng, split)
            write_triplet(root / f"{split}_scene_{i}" / "scene.npz", make_triplet(anchor, pool, sampler, cfg, rng))
    return root


def assert_jacobian_matches_finite_differences(amap, points, step: float = 1e-6, atol: float = 1e-6, **kwargs) -> None:
    """`amap.jacobian(points, **kwargs)` against central finite differences of `amap.apply`."""
    jac = amap.jacobian(points, **kwargs)
    assert jac.shape == (len(points), 3, 3)
    for j in range(3):
        delta = np.zeros(3)
        delta[j] = step
        numeric = (amap.apply(points + delta) - amap.apply(points - delta)) / (2 * step)
        np.testing.assert_allclose(jac[:, :, j], numeric, atol=atol)
