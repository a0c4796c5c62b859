"""Free points of the open-space metrics and their ground truth (evaluation/free_space.py)."""

import numpy as np

from scene_analogy.evaluation.free_space import (FREE_HEIGHT, FREE_MARGIN, FREE_POINTS_PER_OBJECT, box_distances,
                                                 free_ground_truth, free_points, inside_any_box)
from scene_analogy.ops.geometry import global_transform, yaw_matrix
from scene_analogy.structures.scene import FloorPlan, Scene
from tests.helpers import random_scene, stub_pool


def _scene(seed=0, count=6):
    return random_scene(stub_pool(), count, np.random.default_rng(seed))


def _one_box(size, centre=(0.0, 0.5, 0.0), yaw=0.0):
    outline = np.array([[-5, -5], [5, -5], [5, 5], [-5, 5]], dtype=float)
    return Scene(["m"], [0], ["bed"], [size], [centre], [[1, 1, 1]], yaw_matrix(np.array([yaw])), [centre],
                 FloorPlan.from_polygons([outline], 0.0, 3.0))


def test_box_distances_by_hand():
    scene = _one_box((2.0, 1.0, 1.0), yaw=np.pi / 2)  # turned: its 2 m axis now runs along world z
    points = np.array([[0.0, 0.5, 0.0], [0.0, 0.5, 1.5], [1.0, 0.5, 0.0], [1.0, 2.0, 0.0]])
    np.testing.assert_allclose(box_distances(points, scene)[0], [0.0, 0.5, 0.5, np.hypot(0.5, 1.0)], atol=1e-12)
    assert inside_any_box(points, scene).tolist() == [True, False, False, False]


def test_free_points_obey_the_rules_and_repeat_for_a_seed():
    scene = _scene()
    roi = np.array([0, 2, 3])
    points, owner = free_points(scene, roi, np.random.default_rng([7, 1]))
    assert points.shape == (3 * FREE_POINTS_PER_OBJECT, 3)
    assert np.bincount(owner, minlength=4)[roi].tolist() == [FREE_POINTS_PER_OBJECT] * 3
    assert not inside_any_box(points, scene).any()
    assert ((points[:, 1] >= FREE_HEIGHT[0]) & (points[:, 1] <= FREE_HEIGHT[1])).all()
    # horizontally within the margin of the box it was drawn around (box frame, xz only)
    for obj in roi:
        mine = points[owner == obj]
        local = (mine - scene.bbox_centroids[obj]) @ scene.rots[obj]
        gap = np.maximum(np.abs(local[:, [0, 2]]) - scene.bbox_sizes[obj, [0, 2]] / 2, 0.0)
        assert (np.linalg.norm(gap, axis=1) <= FREE_MARGIN + 1e-12).all()
    again, _ = free_points(scene, roi, np.random.default_rng([7, 1]))
    np.testing.assert_array_equal(points, again)
    other, _ = free_points(scene, roi, np.random.default_rng([7, 2]))
    assert not np.array_equal(points, other)


def test_identical_pair_has_the_point_itself_as_ground_truth():
    scene = _scene(1)
    roi = np.array([1, 4])
    points, _ = free_points(scene, roi, np.random.default_rng(0))
    gt, gt_free = free_ground_truth(points, scene, roi, scene, roi)
    np.testing.assert_allclose(gt, points, atol=1e-12)
    assert gt_free.all()


def test_moved_mirrored_copy_gives_the_exact_ground_truth():
    target = _scene(2)
    linear = global_transform(0.9, mirror=True)
    offset = np.array([3.0, 0.0, -1.5])
    reference = target.transformed(linear, offset)
    roi = np.array([0, 1, 5])
    points, _ = free_points(target, roi, np.random.default_rng(3))
    gt, gt_free = free_ground_truth(points, target, roi, reference, roi)
    np.testing.assert_allclose(gt, points @ linear.T + offset, atol=1e-10)
    assert gt_free.all()


def test_ground_truth_follows_the_size_ratio_of_the_boxes():
    target = _one_box((2.0, 1.0, 1.0))
    reference = _one_box((4.0, 1.0, 0.5), centre=(10.0, 0.5, 0.0), yaw=np.pi)  # twice as long, half as deep, turned
    points = np.array([[1.5, 0.5, 0.0], [0.0, 0.5, 1.0], [0.0, 1.5, 0.0]])
    gt, gt_free = free_ground_truth(points, target, np.array([0]), reference, np.array([0]))
    np.testing.assert_allclose(gt, [[7.0, 0.5, 0.0], [10.0, 0.5, -0.5], [10.0, 1.5, 0.0]], atol=1e-12)
    assert gt_free.tolist() == [True, True, True]
    inside = free_ground_truth(np.array([[0.5, 0.5, 0.0]]), target, np.array([0]), reference, np.array([0]))[1]
    assert inside.tolist() == [False]  # a point inside the target box lands inside the reference box
