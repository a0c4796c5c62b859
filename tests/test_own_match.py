"""Own scenes as the matcher sees them: oriented boxes, keypoints per object, checkpoint choice."""

from __future__ import annotations

import numpy as np
import pytest

from scene_analogy.files.errors import DataError
from scene_analogy.ops.geometry import yaw_matrix
from scene_analogy.user_scenes.formats import OwnScene
from scene_analogy.user_scenes.matching import (
    PLAIN_CHECKPOINT,
    SEMANTIC_CHECKPOINT,
    choose_checkpoint,
    find_analogy,
    match_scene,
    oriented_boxes,
)


def _box_points(size, yaw, centre, n, rng):
    local = (rng.random((n, 3)) - 0.5) * size
    return local @ yaw_matrix(yaw).T + centre


def test_oriented_boxes_recover_rotated_boxes():
    rng = np.random.default_rng(0)
    sizes = np.array([[2.0, 0.5, 0.8], [0.6, 1.8, 0.4]])
    yaws, centres = np.array([0.3, -1.1]), np.array([[1.0, 0.25, 2.0], [-3.0, 0.9, 0.5]])
    points = np.stack([_box_points(s, y, c, 4000, rng) for s, y, c in zip(sizes, yaws, centres)])
    mask = np.ones(points.shape[:2], bool)
    mask[1, 3000:] = False
    points[1, 3000:] = 1e3  # padding far away must not count
    got_c, got_s, got_r = oriented_boxes(points, mask)
    np.testing.assert_allclose(got_c, centres, atol=0.03)
    for k in range(2):  # the same box up to a quarter turn: compare footprint corner sets
        world = lambda c, s, r: c + (np.array([[-1, 0, -1], [1, 0, -1], [1, 0, 1], [-1, 0, 1]]) * s / 2) @ r.T  # noqa: E731
        a, b = world(got_c[k], got_s[k], got_r[k]), world(centres[k], sizes[k], yaw_matrix(yaws[k]))
        assert np.linalg.norm(a[:, None] - b[None], axis=-1).min(1).max() < 0.06
        assert abs(got_s[k, 1] - sizes[k, 1]) < 0.03 and np.isclose(np.linalg.det(got_r[k]), 1.0)


def test_match_scene_keypoints_per_object():
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.random((500, 3)), rng.random((20, 3)) + 5, rng.random((3000, 3)) + [0, 0, 9]])
    instance = np.repeat([7, 3, 12], [500, 20, 3000])
    scene = OwnScene(points, instance, None, "s.ply")
    match = match_scene(scene, None, num_keypoints=50)
    assert np.bincount(match.instance).tolist() == [20, 50, 50]  # objects in id order 3, 7, 12; small one whole
    assert (match.labels == 1).all() and match.class_ids.tolist() == [0, 0, 0]
    small = match.points[match.instance == 0]
    assert len(np.unique(small, axis=0)) == 20  # every point once, no duplicates from the cycling
    big = match.points[match.instance == 2]
    assert np.linalg.norm(big[:, None] - big[None], axis=-1)[np.triu_indices(50, 1)].min() > 0.05  # spread out
    again = match_scene(scene, np.array([1, 2, 3]), num_keypoints=50)
    np.testing.assert_array_equal(again.points, match.points)  # seeded
    assert again.labels[again.instance == 1].tolist() == [3] * 50


def test_checkpoint_choice_and_missing_labels():
    labelled = OwnScene(np.zeros((2, 3)), np.array([0, 1]), np.array([1, 2]), "a.ply")
    plain = OwnScene(np.zeros((2, 3)), np.array([0, 1]), None, "b.ply")
    assert choose_checkpoint(labelled, labelled) == (SEMANTIC_CHECKPOINT, True)
    assert choose_checkpoint(labelled, plain) == (PLAIN_CHECKPOINT, False)
    assert choose_checkpoint(labelled, labelled, ignore_labels=True) == (PLAIN_CHECKPOINT, False)
    with pytest.raises(DataError, match="b.ply: the scene has no class labels but checkpoint"):
        find_analogy(labelled, plain, [0], checkpoint=SEMANTIC_CHECKPOINT)
