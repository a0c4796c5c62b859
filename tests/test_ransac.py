"""RANSAC similarity (scene_analogy/baselines/ransac.py): recovers a known similarity through
outlier matches, repeats exactly for a seed, and reports no consensus as fitness 0."""

import math

import numpy as np
import torch

from scene_analogy.baselines.ransac import mutual_matches, ransac_similarity, umeyama


def _similarity(scale=1.05, yaw=0.7):
    c, s = math.cos(yaw), math.sin(yaw)
    return scale * torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64), torch.tensor([1.0, 0.2, -2.0],
                                                                                                         dtype=torch.float64)


def test_umeyama_exact_and_batched():
    gen = torch.Generator().manual_seed(0)
    src = torch.rand(4, 10, 3, generator=gen, dtype=torch.float64)
    a, b = _similarity()
    linear, offset = umeyama(src, src @ a.T + b)
    assert torch.allclose(linear, a.expand(4, 3, 3), atol=1e-9) and torch.allclose(offset, b.expand(4, 3), atol=1e-9)


def test_ransac_recovers_similarity_through_outliers_and_repeats():
    gen = torch.Generator().manual_seed(1)
    src = torch.rand(120, 3, generator=gen, dtype=torch.float64) * 3
    a, b = _similarity()
    dst = src @ a.T + b
    desc = torch.rand(120, 16, generator=gen, dtype=torch.float64)
    dst_desc = desc.clone()
    dst_desc[:40] = torch.rand(40, 16, generator=gen, dtype=torch.float64)  # a third of the matches are wrong
    i, j = mutual_matches(desc, dst_desc)
    assert len(i) >= 80 and (i[i >= 40] == j[i >= 40]).all()
    runs = [ransac_similarity(src, desc, dst, dst_desc, 0.05, 2000, seed=3) for _ in range(2)]
    linear, offset, fitness = runs[0]
    assert torch.allclose(linear, a, atol=1e-6) and torch.allclose(offset, b, atol=1e-6) and fitness == 1.0
    assert all(torch.equal(x, y) for x, y in zip(runs[0][:2], runs[1][:2])) and runs[0][2] == runs[1][2]


def test_ransac_without_consensus_has_zero_fitness():
    src = np.zeros((2, 3))
    linear, offset, fitness = ransac_similarity(src, np.eye(2), src, np.eye(2), 0.1, 100)
    assert fitness == 0.0 and torch.equal(linear, torch.eye(3, dtype=torch.float64))
