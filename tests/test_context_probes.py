"""Context probes (`match/probes.py`): where they stand, and that they re-rank coarse maps by what
surrounds the matched object, not by the object itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scene_analogy.field.model import FieldConfig
from scene_analogy.match.coarse import CoarseResult
from scene_analogy.match.inputs import MatchConfig, MatchScene
from scene_analogy.match.pipeline import find_analogy
from scene_analogy.match.probes import box_probes, probe_costs
from scene_analogy.ops.geometry import yaw_matrix

CHAIR, DESK, BED = 0, 1, 2
SIZES = {CHAIR: (0.5, 0.9, 0.5), DESK: (1.0, 0.75, 0.6), BED: (1.4, 0.5, 2.0)}


def test_probes_stand_around_the_box_in_its_frame():
    centre, size = torch.tensor([[1.0, 0.45, -2.0]]), torch.tensor([[0.6, 0.9, 1.0]])
    for yaw in (0.0, 0.7):
        rot = torch.as_tensor(yaw_matrix(yaw), dtype=torch.float32)[None]
        probes = box_probes(centre, size, rot, 0.3)[0]  # (16, 3)
        local = (probes - centre) @ rot[0]  # R^T (p - c)
        outside = (local[:, [0, 2]].abs() - size[0, [0, 2]] / 2).clamp_min(0)
        assert probes.shape == (16, 3)
        assert torch.allclose(outside.max(1).values, torch.full((16,), 0.3), atol=1e-5)  # 0.3 m out along an axis
        assert sorted(set(np.round(local[:, 1].tolist(), 4))) == [-0.225, 0.225]  # a quarter of the height off centre
    f_t = torch.zeros(1, 16, 2)
    f_r = torch.zeros(2, 1, 16, 2)
    f_r[1, 0, :, 0] = 1.0
    assert probe_costs(f_t, f_r, torch.tensor([[True], [True]])).tolist() == [0.0, 1.0]
    assert probe_costs(f_t, f_r, torch.tensor([[True], [False]])).tolist() == [0.0, 0.0]  # unmatched: not probed


def _scene(objects) -> MatchScene:
    """Axis-aligned boxes (class, centre xz) with 40 seeded surface keypoints each and no floor."""
    rng = np.random.default_rng(0)
    points, labels, instance, centres, sizes = [], [], [], [], []
    for i, (cls, (x, z)) in enumerate(objects):
        size = np.array(SIZES[cls])
        centre = np.array([x, size[1] / 2, z])
        local = rng.random((40, 3)) - 0.5
        np.put_along_axis(local, rng.integers(0, 3, (40, 1)), rng.integers(0, 2, (40, 1)) - 0.5, axis=1)
        points.append(centre + local * size)
        labels += [cls + 1] * 40
        instance += [i] * 40
        centres.append(centre)
        sizes.append(size)
    n = len(objects)
    return MatchScene(np.concatenate(points), labels, instance, [o[0] for o in objects], centres, sizes,
                      np.tile(np.eye(3), (n, 1, 1)))


def _two_maps(reference: MatchScene, roi_points: int):
    """A coarse stage that offers the chair at the origin two maps, shifts onto reference chairs 2 and 0
    (in that order, equal keys): the wrong chair first."""
    def stage(*args, **kwargs):
        offsets = torch.tensor(reference.box_centres[[2, 0]] * [1, 0, 1], dtype=torch.float32)
        zeros = torch.zeros(2)
        return CoarseResult(torch.eye(3).expand(2, 3, 3).clone(), offsets, torch.zeros(2, dtype=torch.bool), zeros,
                            torch.zeros(2, roi_points), torch.tensor([[2], [0]]), torch.ones(2, dtype=torch.long), 2,
                            np.zeros((2, 1, 4, 2)), np.zeros((2, 1, 4, 2)), zeros.double())
    return stage


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_probes_pick_the_chair_by_the_desk(weight):
    """Both reference chairs are the target's chair exactly; only their neighbours differ (a desk
    beside chair 0, as in the target, a bed beside chair 2). Without probes the first map stays first;
    with them the chair by the desk wins."""
    target = _scene([(CHAIR, (0.0, 0.0)), (DESK, (0.85, 0.0))])
    reference = _scene([(CHAIR, (4.0, 0.0)), (DESK, (4.85, 0.0)), (CHAIR, (-4.0, 0.0)), (BED, (-5.05, 0.0))])
    torch.manual_seed(0)
    field = FieldConfig(num_layers=1, feedforward=32, max_neighbors=16).build().eval()
    cfg = MatchConfig(context_probe_weight=weight, local_valid_thres=2.0)
    result = find_analogy(target, reference, [CHAIR], field, field, cfg, coarse_stage=_two_maps(reference, 40))
    expected = 0 if weight > 0 else 2
    assert result.best is not None and result.best.correspondence.tolist() == [[0, expected]]
    assert math.isfinite(result.best.cost)


def test_probe_settings_are_checked():
    for bad in ({"context_probe_weight": -1.0}, {"context_probe_margin": 0.0}, {"context_probe_maps": 0}):
        with pytest.raises(ValueError, match="context_probe"):
            MatchConfig(**bad)
