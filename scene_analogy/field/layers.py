"""The Transformer encoder layers of the descriptor field, written out (post-norm, ReLU, the
parameters of torch's `nn.TransformerEncoderLayer`): `post_norm_layer` for training (dropout live),
and the eval path's folded forms (`eval_layer`, `summary_layer`, `summary_attention`), equal to it
to 1e-5 (tests/test_field_eval_path.py). Why and the numbers: docs/speed.md, "Descriptor field".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def post_norm_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor, attn_mask: torch.Tensor,
                     summary_only: bool) -> torch.Tensor:
    """One post-norm TransformerEncoderLayer (ReLU) on x (n, L, d); with `summary_only` the output
    is (n, 1, d) for the first token only (its keys and values still come from all tokens)."""
    attn = layer.self_attn
    n, length, d = x.shape
    heads = attn.num_heads
    weight, bias = attn.in_proj_weight, attn.in_proj_bias
    if summary_only:
        residual = x[:, :1]
        q = F.linear(residual, weight[:d], bias[:d])
        k, v = F.linear(x, weight[d:], bias[d:]).chunk(2, dim=-1)
    else:
        residual = x
        q, k, v = F.linear(x, weight, bias).chunk(3, dim=-1)

    def split(t: torch.Tensor) -> torch.Tensor:  # (n, l, d) -> (n, heads, l, d / heads)
        return t.reshape(n, t.shape[1], heads, d // heads).transpose(1, 2)

    dropout = attn.dropout if layer.training else 0.0
    a = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=attn_mask, dropout_p=dropout)
    a = attn.out_proj(a.transpose(1, 2).reshape(n, residual.shape[1], d))
    x = layer.norm1(residual + layer.dropout1(a))
    return layer.norm2(x + layer.dropout2(layer.linear2(layer.dropout(F.relu(layer.linear1(x))))))


def eval_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor, attn_mask: torch.Tensor,
                qkv: torch.Tensor | None = None) -> torch.Tensor:
    """`post_norm_layer(..., summary_only=False)` without dropout; x (n, L, d), attn_mask (n, L)
    additive, `qkv` (n, L, 3 d) the input projection of x when computed elsewhere.

    The summary query (row 0) is attended apart (`summary_attention`): torch's CPU flash kernel
    works in blocks of 32 query rows, and a 33rd row would cost each (query, head) a second block of
    tiny matrix products.
    """
    attn = layer.self_attn
    n, length, d = x.shape
    heads = attn.num_heads
    head = d // heads
    if qkv is None:
        qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.chunk(3, dim=-1)
    out = x.new_empty(n, length, d)
    out[:, 0] = summary_attention(attn, x, q[:, 0], attn_mask)
    if length > 1:
        a = F.scaled_dot_product_attention(*(t.reshape(n, t.shape[1], heads, head).transpose(1, 2)
                                             for t in (q[:, 1:], k, v)), attn_mask=attn_mask[:, None, None, :])
        out.view(n, length, heads, head)[:, 1:] = a.transpose(1, 2)
    # In place where a fresh product can take the sum (the same floats: addition commutes).
    x = layer.norm1(attn.out_proj(out).add_(x))
    return layer.norm2(layer.linear2(F.relu(layer.linear1(x), inplace=True)).add_(x))


def summary_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
    """`post_norm_layer(..., summary_only=True)[:, 0]` without dropout, keys and values folded away.

    For the summary query q (one per row, heads h of size e) the score of token j is
    q_h . (W_k,h x_j + b_k,h) / sqrt(e) = u_h . x_j + const_h with u_h = W_k,h^T q_h / sqrt(e); the
    constant cancels in the softmax. Its attention output is sum_j a_hj (W_v,h x_j + b_v,h) =
    W_v,h (sum_j a_hj x_j) + b_v,h, since the weights sum to 1. So no token is projected: per row
    ~2 L d heads multiply-adds instead of 2 L d^2. x (n, L, d), attn_mask (n, L) additive (0 / -inf,
    slot 0 valid); returns (n, d).
    """
    attn = layer.self_attn
    d = x.shape[-1]
    x0 = x[:, 0]
    q = F.linear(x0, attn.in_proj_weight[:d], attn.in_proj_bias[:d])
    x0 = layer.norm1(x0 + attn.out_proj(summary_attention(attn, x, q, attn_mask)))
    return layer.norm2(x0 + layer.linear2(F.relu(layer.linear1(x0))))


def summary_attention(attn: nn.MultiheadAttention, x: torch.Tensor, q: torch.Tensor,
                       attn_mask: torch.Tensor) -> torch.Tensor:
    """Attention output (n, d), before `out_proj`, of one query q (n, d) (already projected) over the
    tokens x (n, L, d), without projecting the tokens (`summary_layer` has the algebra)."""
    n, length, d = x.shape
    heads = attn.num_heads
    head = d // heads
    weight, bias = attn.in_proj_weight, attn.in_proj_bias
    q = q * head ** -0.5
    # u (n, heads, d) = per head W_k,h^T q_h: a batched matmul over the heads.
    u = torch.bmm(q.reshape(n, heads, head).transpose(0, 1), weight[d:2 * d].reshape(heads, head, d))
    scores = torch.baddbmm(attn_mask[:, None, :], u.transpose(0, 1), x.transpose(1, 2))  # (n, heads, L)
    z = torch.bmm(scores.softmax(dim=-1), x)  # (n, heads, d): attention-weighted token means
    ctx = torch.bmm(z.transpose(0, 1), weight[2 * d:].reshape(heads, head, d).transpose(1, 2))  # (heads, n, e)
    return ctx.transpose(0, 1).reshape(n, d) + bias[2 * d:]
