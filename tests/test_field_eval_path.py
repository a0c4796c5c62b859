"""The field's eval path (`ContextDescriptorField._encode_eval`: cache-sized chunks, first and last
layers folded, summary row attended apart) against a straightforward reference: torch's own
nn.TransformerEncoder over the padded tokens with a key-padding mask."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from scene_analogy.field.model import PRESETS, FieldConfig, semantics_free
from scene_analogy.ops.neighbors import ball_query, gather, spread_by_rank

SMALL = FieldConfig(max_neighbors=12, num_layers=2, num_heads=4, feedforward=32, out_dim=48)
CONFIGS = {
    "fast": PRESETS["fast"],
    "fast-semantics-free": PRESETS["fast-semantics-free"],
    "small": SMALL,
    "one-layer": dataclasses.replace(SMALL, num_layers=1),
    "unnormalised": dataclasses.replace(SMALL, normalize=False, num_layers=3),
    "pool": dataclasses.replace(PRESETS["fast"], num_heads=2, neighbor_pool=60),
}


def _randomise(field, seed):
    """Random weights everywhere (biases and norms too), so no term of the algebra is trivially 0 or 1."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in field.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (0.5 if p.dim() > 1 else 0.2) + (1.0 if p.dim() == 1 and p.shape[0] == field.cfg.width else 0.0))
    return field


def _scene(dtype=torch.float32):
    gen = torch.Generator().manual_seed(3)
    points = torch.rand(2, 400, 3, generator=gen, dtype=torch.float64) * torch.tensor([2.5, 1.5, 2.5], dtype=torch.float64)
    labels = torch.randint(0, 9, (2, 400), generator=gen)
    # Mixed neighbour counts: on keypoints, near them, random, sparse corners and far away (0).
    queries = torch.cat([points[:, :10] + 0.01, torch.rand(2, 30, 3, generator=gen, dtype=torch.float64) * 3.6 - 0.6,
                         torch.tensor([[[40.0, 0, 0], [0, -9.0, 0], [3.5, 2.3, 3.5]]], dtype=torch.float64).expand(2, -1, -1),
                         points[:, 20:30]], 1)
    return points.to(dtype), labels, queries.to(dtype)


def _reference(field, queries, points, labels):
    """ball_query, padded tokens, nn.TransformerEncoder.forward with a key-padding mask."""
    cfg = field.cfg
    dist, idx, mask = ball_query(queries, points, cfg.radius, max(cfg.max_neighbors, cfg.neighbor_pool))
    if cfg.neighbor_pool > cfg.max_neighbors:
        dist, idx, mask = spread_by_rank(dist, idx, mask, cfg.max_neighbors)
    b, q, k = dist.shape
    scaled = torch.where(mask, dist, torch.zeros_like(dist)).reshape(b * q, k) / cfg.radius
    tokens = field.dist_emb.dist_mlp(scaled[..., None])
    if cfg.uses_semantics:
        tokens = torch.cat([tokens, field.semantics_emb(gather(labels, idx).masked_fill(~mask, 0).reshape(b * q, k))], -1)
    x = torch.cat([field.summary_emb.weight.expand(b * q, 1, -1), tokens], 1)
    pad = torch.cat([mask.new_zeros(b * q, 1), ~mask.reshape(b * q, k)], 1)
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        out = field.final_lin(field.feat_transformer(x, src_key_padding_mask=pad)[:, 0])
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    out = F.normalize(out, dim=-1) if cfg.normalize else out
    return out.reshape(b, q, -1), mask.sum(-1)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_eval_path_equals_padded_torch_encoder(name):
    torch.manual_seed(0)
    field = _randomise(CONFIGS[name].build().eval(), seed=len(name))
    points, labels, queries = _scene()
    with torch.no_grad():
        ref, counts = _reference(field, queries, points, labels)
        assert counts.min() == 0 and counts.max() == field.cfg.max_neighbors and len(counts.unique()) > 4
        # Chunks of one query, odd sizes (mixed lengths, a chunk of only empty neighbourhoods), default.
        for chunk_size in (1, 3, 7, None):
            out = field(queries, points, labels, chunk_size=chunk_size)
            assert (out - ref).abs().max() <= 1e-5, (chunk_size, (out - ref).abs().max())
    with torch.inference_mode():
        assert (field(queries, points, labels) - ref).abs().max() <= 1e-5


@pytest.mark.parametrize("name", ["fast", "fast-semantics-free", "one-layer"])
def test_eval_path_gradients_equal_reference_in_float64(name):
    """Exact algebra: in float64 the folded path and torch's encoder agree to rounding, outputs and
    gradients (queries and weights), as the matcher differentiates through the field in eval mode."""
    torch.manual_seed(0)
    field = _randomise(CONFIGS[name].build(), seed=1).double().eval()
    points, labels, queries = _scene(torch.float64)
    weights = torch.linspace(-1, 1, field.cfg.out_dim, dtype=torch.float64)
    grads = []
    for fn in (lambda q: field(q, points, labels, chunk_size=5), lambda q: _reference(field, q, points, labels)[0]):
        q = queries.clone().requires_grad_(True)
        field.zero_grad()
        out = fn(q)
        (out * weights).sum().backward()
        grads.append((out.detach(), q.grad, field.final_lin.weight.grad.clone(),
                      field.dist_emb.dist_mlp[0].weight.grad.clone(), field.feat_transformer.layers[0].self_attn.in_proj_weight.grad.clone()))
    for new, ref in zip(*grads):
        assert (new - ref).abs().max() <= 1e-10 * max(1.0, ref.abs().max())


def test_training_mode_still_uses_torch_arithmetic():
    """Train mode (dropout live) takes `_encode`, not the folded eval path; with dropout 0 both agree."""
    torch.manual_seed(0)
    field = _randomise(dataclasses.replace(SMALL, dropout=0.0).build(), seed=2)
    points, labels, queries = _scene()
    train_out = field.train()(queries, points, labels)
    with torch.no_grad():
        eval_out = field.eval()(queries, points, labels)
    assert (train_out.detach() - eval_out).abs().max() <= 1e-5


@pytest.mark.parametrize("threads", [1, 2])
def test_default_cpu_chunks_equal_one_chunk(threads):
    """The default chunk size follows the thread count (~2,000 tokens on one, ~4,000 per thread above);
    on 600 queries both split into several chunks, and the descriptors equal one chunk's."""
    torch.manual_seed(0)
    field = _randomise(PRESETS["fast"].build().eval(), seed=2)
    gen = torch.Generator().manual_seed(4)
    points = torch.rand(1, 800, 3, generator=gen) * 2.0
    labels = torch.randint(0, 9, (1, 800), generator=gen)
    queries = points[:, :600] + 0.01
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            whole = field(queries, points, labels, chunk_size=600)
            out = field(queries, points, labels)
    finally:
        torch.set_num_threads(before)
    assert (out - whole).abs().max() <= 1e-5
