"""The matcher's memory bounds change nothing they need not: chunked coarse scoring gives the costs
of one big batch, and the spline / bump centre cap only acts on RoIs larger than it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from scene_analogy.field.model import FieldConfig
from scene_analogy.fixtures.match_inputs import box_keypoint_scene, transformed_copy
from scene_analogy.match import coarse
from scene_analogy.match.inputs import MatchConfig
from scene_analogy.match.pipeline import find_analogy
from tests.helpers import random_scene, stub_pool


def test_chunked_scoring_equals_one_batch(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    num_maps, num_roi, num_ref = 7, 40, 90
    linear = torch.eye(3) + 0.1 * torch.randn(num_maps, 3, 3, generator=gen)
    offset = torch.randn(num_maps, 3, generator=gen)
    roi, ref = torch.randn(num_roi, 3, generator=gen), 2 * torch.randn(num_ref, 3, generator=gen)
    f_roi = torch.nn.functional.normalize(torch.randn(num_roi, 16, generator=gen), dim=1)
    f_ref = torch.nn.functional.normalize(torch.randn(num_ref, 16, generator=gen), dim=1)
    args = (linear, offset, roi, ref, f_roi @ f_ref.T, f_ref, MatchConfig())
    whole = coarse.score_maps(*args)
    monkeypatch.setattr(coarse, "SCORE_CHUNK_POINTS", 3 * num_roi - 5)  # chunks of 2 maps, the last of 1
    chunked = coarse.score_maps(*args)
    assert chunked.shape == (num_maps, num_roi)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("displacement,key", [("parts", "bump_centres"), ("spline", "centres")])
def test_spline_centres_capped_only_above_the_cap(displacement, key):
    """The cap holds for both displacement forms: the spline's centres and the bumps' centres."""
    torch.manual_seed(0)
    field = FieldConfig(num_layers=1, feedforward=32, max_neighbors=16).build().eval()
    rng = np.random.default_rng(1)
    target = box_keypoint_scene(random_scene(stub_pool(), 6, rng), 30, rng)
    reference = transformed_copy(target, np.pi / 2, False, 1.0, np.array([2.0, 0.0, 1.0]))
    roi = [0, 1, 2]  # 90 RoI points
    cfg = MatchConfig(global_topk=4, local_displacement=displacement)
    full = find_analogy(target, reference, roi, field, field, cfg)
    capped = find_analogy(target, reference, roi, field, field, dataclasses.replace(cfg, max_spline_centres=40))
    assert full.best is not None and capped.best is not None
    assert len(getattr(full.best, key)) == 90 and len(getattr(capped.best, key)) == 40
    assert len(capped.best.roi_points) == 90  # every RoI point is still mapped and scored
    # The subset spline smooths the same displacements: the two maps agree closely on the RoI.
    gap = np.linalg.norm(full.best.apply(full.best.roi_points) - capped.best.apply(full.best.roi_points), axis=1)
    assert gap.mean() < 0.05
