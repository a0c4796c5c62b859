"""The context descriptor field (DESIGN §3): a descriptor for any query point from its neighbourhood.

For a query q in a scene, the up to `max_neighbors` nearest keypoints within `radius` become tokens
[MLP(|q - p| / r) || class embedding]; a learned summary token is prepended, a post-norm Transformer
encoder runs over the tokens with padding masked, and the summary output goes through a linear layer
and is L2-normalised. Only distances and classes enter, so the descriptor is invariant to rotations
and mirrors about q. A query with no neighbour sees the summary token alone: the "empty space"
descriptor, the same for every such query.

Parameter names and shapes follow the authors' released model (`semantics_emb`, `dist_emb.dist_mlp`,
`summary_emb`, `feat_transformer` = `nn.TransformerEncoder` with a final norm, `final_lin`), so
their weights load after `python -m scene_analogy.convert_checkpoint`.

Queries are sorted by neighbour count and chunked, each chunk padded to its own longest
neighbourhood. In training (dropout live) the encoder is evaluated by `_encode` (same parameters and
post-norm arithmetic as torch's module: no nested tensors, last layer for the summary token only).
In eval mode by `_encode_eval`, the same function folded (equal to torch's module to 1e-5, exact in
float64; tests/test_field_eval_path.py): the first layer's input projection is folded into the
token embedding (`_first_layer_tables`), the last layer into the summary query (`layers.summary_layer`:
no token is projected), and the summary row of the other layers is attended apart from the flash
kernel; on the CPU the chunks are cache-sized (~2,000 tokens on one thread, ~4,000 per thread
above). Numbers: docs/speed.md, "Descriptor field". Neighbours: the nearest `max_neighbors` in the
ball, or the nearest `neighbor_pool` thinned by distance rank; never random. Why and the numbers:
docs/decisions.md, "Field: encoder evaluation and neighbour pool".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scene_analogy.field.layers import eval_layer, post_norm_layer, summary_layer
from scene_analogy.ops.neighbors import ball_query, gather, spread_by_rank

__all__ = ["FieldConfig", "ContextDescriptorField", "PRESETS", "semantics_free",
           "save_checkpoint", "save_pretrained", "load_field", "load_config"]

# Floats alive per chunk in the widest intermediate (queries x tokens x max(feed-forward, 3 d)):
# about 64 MB of float32. Larger chunks did not run faster on CPU; smaller ones bound GPU memory.
_CHUNK_ELEMENTS = 1 << 24
# Eval on the CPU: tokens per chunk. One thread: ~2,000 (62 queries of 33 tokens), so every
# intermediate of a chunk (~2,000 x 192 floats, 1.5 MB) stays in cache; the memory-bound passes (bias,
# residual, ReLU, LayerNorm, copies) ran much slower over one big chunk. More threads: ~4,000 per
# thread (two threads: 8,192 tokens, 248 queries), 11-20 % faster than one big chunk on an idle
# machine. Each op is an OpenMP parallel region, and with another busy process on the cores
# (libgomp's spin-wait) every region waits for a descheduled thread: there smaller chunks lose (62
# queries ~3x, 248 ~2x against one chunk), and one thread per process is faster anyway (docs/speed.md).
_CPU_EVAL_CHUNK_TOKENS = 2048
_CPU_EVAL_CHUNK_TOKENS_PER_THREAD = 4096


@dataclass(frozen=True)
class FieldConfig:
    """Every size of the descriptor field; `build()` makes the module.

    Transformer width d = distance_emb_size + semantics_emb_size. `semantics_emb_size = 0` is the
    semantics-free variant (labels are then ignored and `num_classes` is unused). Class c is embedded
    at row c + 1; row 0 is the floor plan, so the class table has num_classes + 1 rows.
    """

    radius: float = 0.75
    max_neighbors: int = 100
    neighbor_pool: int = 0  # 0: the nearest max_neighbors; P: the nearest P, spread to max_neighbors
    num_layers: int = 6
    num_heads: int = 8
    distance_emb_size: int = 32
    distance_hidden: int = 16
    semantics_emb_size: int = 32
    feedforward: int = 2048
    out_dim: int = 256
    num_classes: int = 8
    dropout: float = 0.1
    train_class_embedding: bool = False
    normalize: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not (isinstance(self.radius, (int, float)) and math.isfinite(self.radius) and self.radius > 0):
            problems.append(f"radius must be a positive number, got {self.radius!r}")
        for name in ("max_neighbors", "num_layers", "num_heads", "distance_emb_size", "distance_hidden",
                     "feedforward", "out_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive int, got {value!r}")
        for name in ("semantics_emb_size", "num_classes", "neighbor_pool"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"{name} must be an int >= 0, got {value!r}")
        if not problems:
            if self.semantics_emb_size > 0 and self.num_classes < 1:
                problems.append("num_classes must be >= 1 when semantics_emb_size > 0 "
                                "(use semantics_emb_size=0 for the semantics-free variant)")
            if self.width % self.num_heads:
                problems.append(f"width {self.width} (distance_emb_size + semantics_emb_size) is not "
                                f"divisible by num_heads {self.num_heads}")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            problems.append(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if problems:
            raise ValueError("FieldConfig: " + "; ".join(problems))

    @property
    def width(self) -> int:
        """Transformer width d: a token is [distance embedding || class embedding]."""
        return self.distance_emb_size + self.semantics_emb_size

    @property
    def uses_semantics(self) -> bool:
        return self.semantics_emb_size > 0

    def build(self) -> "ContextDescriptorField":
        return ContextDescriptorField(self)


def semantics_free(cfg: FieldConfig) -> FieldConfig:
    """The same field without class embeddings: tokens carry distances only (d = distance_emb_size)."""
    return dataclasses.replace(cfg, semantics_emb_size=0, num_classes=0)


PRESETS: dict[str, FieldConfig] = {
    # The reference architecture; loads the authors' converted weights. ~100-300 queries/s on the
    # 2-core CPU (1,250 queries vs 1,500 keypoints): meant for GPUs and converted checkpoints.
    "paper": FieldConfig(),
    # For CPU training and inference. Chosen by measurement (`benchmarks/field.py --explore`): the
    # largest grid point that keeps >= 1.5x margin over the 5,000 queries/s target on the shared
    # 2-core CPU (~8,000-10,000 q/s); 4 layers or 48 neighbours fall to ~3,000-5,500 q/s.
    "fast": FieldConfig(max_neighbors=32, num_layers=3, feedforward=128),
}
PRESETS["paper-semantics-free"] = semantics_free(PRESETS["paper"])
PRESETS["fast-semantics-free"] = semantics_free(PRESETS["fast"])


class DistanceEmbedding(nn.Module):
    """MLP of the normalised distance |q - p| / r: Linear(1, h), ReLU, Linear(h, out)."""

    def __init__(self, hidden: int, out: int):
        super().__init__()
        self.dist_mlp = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, scaled_dist: torch.Tensor) -> torch.Tensor:
        return self.dist_mlp(scaled_dist.unsqueeze(-1))


class ContextDescriptorField(nn.Module):
    """Descriptor of query points from their neighbourhood of labelled scene keypoints."""

    def __init__(self, cfg: FieldConfig):
        super().__init__()
        if not isinstance(cfg, FieldConfig):
            raise TypeError(f"expected a FieldConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        d = cfg.width
        if cfg.uses_semantics:
            self.semantics_emb = nn.Embedding(cfg.num_classes + 1, cfg.semantics_emb_size)
            # Frozen at its random initialisation by default: the classes only need to be told apart.
            self.semantics_emb.weight.requires_grad_(cfg.train_class_embedding)
        self.dist_emb = DistanceEmbedding(cfg.distance_hidden, cfg.distance_emb_size)
        self.summary_emb = nn.Embedding(1, d)
        layer = nn.TransformerEncoderLayer(d, cfg.num_heads, cfg.feedforward, cfg.dropout,
                                           activation="relu", batch_first=True, norm_first=False)
        # Nested tensors are never used: `_encode` evaluates the layers itself (module docstring).
        self.feat_transformer = nn.TransformerEncoder(layer, cfg.num_layers, norm=nn.LayerNorm(d),
                                                      enable_nested_tensor=False)
        self.final_lin = nn.Linear(d, cfg.out_dim)
        # The no-analogy cost threshold calibrated for these weights (`MatchConfig.valid_threshold`);
        # `load_field` sets it from `calibration.json` beside the checkpoint. Not a weight: None here.
        self.valid_threshold: float | None = None

    @property
    def device(self) -> torch.device:
        return self.final_lin.weight.device

    # ------------------------------------------------------------------------- public

    def forward(
        self,
        query: torch.Tensor,
        points: torch.Tensor,
        labels: torch.Tensor | None = None,
        points_lengths: torch.Tensor | None = None,
        chunk_size: int | None = None,
    ) -> torch.Tensor:
        """Descriptors (B, Q, out_dim) of query (B, Q, 3) in scenes of keypoints points (B, P, 3).

        labels (B, P) long are embedding indices (0 floor plan, c + 1 object class c); ignored (may
        be None) by the semantics-free variant. points_lengths (B,) marks padding in `points`.
        chunk_size = queries encoded at once (default: from a ~64 MB activation budget).
        """
        cfg = self.cfg
        if query.dim() != 3 or query.shape[-1] != 3 or points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"query must be (B, Q, 3) and points (B, P, 3), got {tuple(query.shape)} "
                             f"and {tuple(points.shape)}")
        if cfg.uses_semantics:
            if labels is None or labels.shape != points.shape[:2]:
                got = None if labels is None else tuple(labels.shape)
                raise ValueError(f"labels must have shape {tuple(points.shape[:2])}, got {got}")
            if labels.is_floating_point():
                raise ValueError(f"labels must be an integer tensor, got {labels.dtype}")
        dist, idx, mask = ball_query(query, points, cfg.radius, max(cfg.max_neighbors, cfg.neighbor_pool),
                                     points_lengths)
        if cfg.neighbor_pool > cfg.max_neighbors:
            dist, idx, mask = spread_by_rank(dist, idx, mask, cfg.max_neighbors)
        batch, num_query, k = dist.shape
        # Padding slots hold dist = inf; zero them so no inf/NaN reaches the (masked) tokens.
        scaled = torch.where(mask, dist, torch.zeros_like(dist)) / cfg.radius
        neighbour_labels = None
        if cfg.uses_semantics:
            # A scene without keypoints has no label to gather (every slot is padding): labels of 0.
            neighbour_labels = gather(labels.long(), idx) if points.shape[1] else torch.zeros_like(idx)
            neighbour_labels = neighbour_labels.masked_fill(~mask, 0)
            bad = (neighbour_labels < 0) | (neighbour_labels > cfg.num_classes)
            if bool(bad.any()):
                raise ValueError(f"labels must lie in [0, {cfg.num_classes}] (0 floor plan, class c -> c + 1), "
                                 f"got {int(neighbour_labels[bad][0])}")
            neighbour_labels = neighbour_labels.reshape(batch * num_query, k)
        out = self._describe_flat(scaled.reshape(batch * num_query, k), neighbour_labels,
                                  mask.reshape(batch * num_query, k), chunk_size)
        return out.reshape(batch, num_query, cfg.out_dim)

    def describe(self, query, points, labels=None, chunk_size: int | None = None) -> torch.Tensor:
        """Single-scene convenience: query (Q, 3), points (P, 3), labels (P,) -> (Q, out_dim).

        Accepts tensors or arrays; they are moved to the field's device. Gradients follow the
        caller's mode: wrap in `torch.inference_mode()` for the fastest evaluation.
        """
        dtype = self.final_lin.weight.dtype  # float32, or float64 after field.double()
        query = torch.as_tensor(query, dtype=dtype, device=self.device)
        points = torch.as_tensor(points, dtype=dtype, device=self.device)
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long, device=self.device)[None]
        return self(query[None], points[None], labels, chunk_size=chunk_size)[0]

    # ------------------------------------------------------------------------- internals

    def _describe_flat(self, scaled: torch.Tensor, labels: torch.Tensor | None, mask: torch.Tensor,
                       chunk_size: int | None) -> torch.Tensor:
        """Descriptors (N, out_dim) of N neighbourhoods given as (N, k) distances / labels / mask.

        The valid slots of each row form a prefix (ball_query sorts ascending, padding last), so a
        chunk needs only as many token slots as its longest neighbourhood. Sorting by count first
        groups similar lengths; the result is put back in the original order.
        """
        num = scaled.shape[0]
        if num == 0:
            return scaled.new_zeros(0, self.cfg.out_dim)
        counts = mask.sum(-1)
        order = torch.argsort(counts, descending=True, stable=True)
        # Eval (no dropout): `_encode_eval`, first and last layers folded; training keeps `_encode`.
        folded = None if self.training else self._first_layer_tables()
        if chunk_size is None:
            if folded is not None and scaled.device.type == "cpu":
                # Cache-sized chunks (see _CPU_EVAL_CHUNK_TOKENS).
                threads = torch.get_num_threads()
                tokens = _CPU_EVAL_CHUNK_TOKENS if threads == 1 else _CPU_EVAL_CHUNK_TOKENS_PER_THREAD * threads
                chunk_size = max(1, tokens // (scaled.shape[1] + 1))
            else:
                widest = max(self.cfg.feedforward, 3 * self.cfg.width)
                chunk_size = max(1, _CHUNK_ELEMENTS // ((scaled.shape[1] + 1) * widest))
        chunk_counts = counts[order[::chunk_size]].tolist()  # one host sync for all chunks
        # Reordered once, so that every chunk is a slice (a view), not a gather.
        scaled, mask = scaled[order], mask[order]
        labels = None if labels is None else labels[order]
        pieces = []
        for start, length in zip(range(0, num, chunk_size), chunk_counts):
            rows = slice(start, start + chunk_size)
            chunk_labels = None if labels is None else labels[rows, :length]
            if folded is None:
                tokens = self._tokens(scaled[rows, :length], chunk_labels)
                pieces.append(self._encode(tokens, mask[rows, :length]))
            else:
                pieces.append(self._encode_eval(scaled[rows, :length], chunk_labels, mask[rows, :length], folded))
        summary = torch.cat(pieces)[torch.argsort(order)]
        desc = self.final_lin(summary)
        return F.normalize(desc, dim=-1) if self.cfg.normalize else desc

    def _tokens(self, scaled: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Tokens (n, L, d) = [distance embedding || class embedding]."""
        dist_tokens = self.dist_emb(scaled)
        if labels is None:
            return dist_tokens
        return torch.cat([dist_tokens, self.semantics_emb(labels)], dim=-1)

    def _encode(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Summary-token output (n, d) of the encoder over [summary, tokens] with padding masked.

        Same arithmetic as `self.feat_transformer(x, src_key_padding_mask=...)[:, 0]` (post-norm
        layers, then the final norm), restricted in the last layer to the summary token.
        """
        n = tokens.shape[0]
        summary = self.summary_emb.weight.expand(n, 1, -1)
        x = torch.cat([summary, tokens], dim=1)
        # Additive mask (n, 1, 1, L+1): the summary slot is always valid, so no row is all -inf.
        keep = torch.cat([valid.new_ones(n, 1), valid], dim=1)
        attn_mask = torch.zeros(keep.shape, dtype=x.dtype, device=x.device)
        attn_mask = attn_mask.masked_fill(~keep, float("-inf"))[:, None, None, :]
        layers = self.feat_transformer.layers
        for i, layer in enumerate(layers):
            x = post_norm_layer(layer, x, attn_mask, summary_only=i == len(layers) - 1)
        return self.feat_transformer.norm(x[:, 0])

    def _first_layer_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first layer's input projection folded into the token embedding (for `_encode_eval`).

        A token is [W2 h + b2 || E[c]] with h = ReLU(W1 s + b1) the distance MLP's hidden layer, so its
        query/key/value row W (token) + b = (W_dist W2) h + table[c] with
        table[c] = W_dist b2 + W_class E[c] + b. Returns (W_dist W2 transposed (hidden, 3 d), table):
        table rows 0..num_classes (one row without semantics), then one row for the summary token
        (W summary + b; its h is 0).
        """
        attn = self.feat_transformer.layers[0].self_attn
        weight, bias = attn.in_proj_weight, attn.in_proj_bias
        lin2 = self.dist_emb.dist_mlp[2]
        dd = self.cfg.distance_emb_size
        w_dist = weight[:, :dd]
        token_rows = F.linear(lin2.bias, w_dist, bias)[None]  # (1, 3 d)
        if self.cfg.uses_semantics:
            token_rows = token_rows + F.linear(self.semantics_emb.weight, weight[:, dd:])
        summary_row = F.linear(self.summary_emb.weight, weight, bias)
        return (w_dist @ lin2.weight).t(), torch.cat([token_rows, summary_row])

    def _encode_eval(self, scaled: torch.Tensor, labels: torch.Tensor | None, valid: torch.Tensor,
                     folded: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """`_tokens` + `_encode` without dropout, from distances (n, L), labels and mask: equal to 1e-5.

        The first layer's input projection is folded into the embedding (`_first_layer_tables`) and
        the last layer into the summary query (`summary_layer`); the layers between are unchanged.
        """
        n, length = scaled.shape
        d, dd = self.cfg.width, self.cfg.distance_emb_size
        mlp = self.dist_emb.dist_mlp
        projection, table = folded
        # Hidden distance features for [summary, tokens]: the summary row is 0 (its table row holds it).
        hidden = F.pad(F.relu(mlp[0](scaled[..., None])), (0, 0, 1, 0))  # (n, L + 1, hidden)
        rows = torch.full((n, length + 1), table.shape[0] - 1, dtype=torch.long, device=scaled.device)
        rows[:, 1:] = 0 if labels is None else labels
        qkv = F.embedding(rows, table).view(-1, table.shape[1]).addmm_(hidden.view(-1, hidden.shape[-1]), projection)
        # The residual stream: [summary, [distance embedding || class embedding]].
        x = scaled.new_empty(n, length + 1, d)
        x[:, 0] = self.summary_emb.weight
        x[:, 1:, :dd] = mlp[2](hidden[:, 1:])
        if labels is not None:
            x[:, 1:, dd:] = self.semantics_emb(labels)
        keep = torch.cat([valid.new_ones(n, 1), valid], dim=1)
        attn_mask = torch.zeros(keep.shape, dtype=x.dtype, device=x.device).masked_fill_(~keep, float("-inf"))
        layers = self.feat_transformer.layers
        for i, layer in enumerate(layers[:-1]):
            x = eval_layer(layer, x, attn_mask, qkv.view(n, length + 1, -1) if i == 0 else None)
        if len(layers) == 1:  # the only layer is also the last: fold neither
            return self.feat_transformer.norm(post_norm_layer(layers[0], x, attn_mask[:, None, None, :], True)[:, 0])
        return self.feat_transformer.norm(summary_layer(layers[-1], x, attn_mask))

