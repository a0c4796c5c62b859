"""Descriptor-field throughput: queries per second at the sizes the matcher uses.

    python benchmarks/field.py [--device cpu|cuda] [--repeats 5] [--threads N] [--compare] [--explore]

With `--compare` each row also gives the path the field used before issue 18 (one ~64 MB chunk,
torch's layer arithmetic in every layer: `_tokens` + `_encode`, still the training path) measured
in the same run, and the max abs difference of the two descriptors. `--threads N` sets
torch.set_num_threads first.

Scene: a seeded room-like scene of 1,500 labelled keypoints (floor-plan corners plus 50 surface
points on each of 30 box-shaped objects); queries: 1,250 object keypoints, as when the matcher
describes the RoI and the reference objects. Each row is the median of `--repeats` timed calls after
one warm-up, under `torch.inference_mode()`, for the presets in `scene_analogy.field.PRESETS` and
the architectures of the shipped checkpoints (`pretrained/*/config.json`, random weights: speed does
not depend on them).

`--explore` adds the measurements behind the `fast` preset: (1) evaluation strategies for one
architecture (torch's `nn.TransformerEncoder` with and without its nested-tensor fast path, under
no_grad and inference_mode, against the field's own `_encode`), and (2) a grid of layers x
feed-forward x neighbour cap with the field's own path, and (3) neighbour caps spread over a pool
of the nearest 100 (`FieldConfig.neighbor_pool`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys

import torch
from timing import commands_policy, median_seconds  # benchmarks/ is on sys.path when run as a script

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)

from scene_analogy.field.checkpoint import load_config  # noqa: E402
from scene_analogy.field.model import PRESETS, FieldConfig  # noqa: E402
from scene_analogy.ops.neighbors import ball_query, gather, spread_by_rank  # noqa: E402

NUM_POINTS, NUM_QUERIES, NUM_OBJECTS, POINTS_PER_OBJECT = 1500, 1250, 30, 50


def room_scene(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(points (1, 1500, 3), labels (1, 1500), queries (1, 1250, 3)) of a seeded furnished room.

    Objects are boxes (0.4-2 m wide, 0.3-2 m tall) standing on the floor of a 6 x 4.5 m room, with
    keypoints uniform on their faces; the floor plan is the 8 room corners at floor and ceiling height.
    """
    gen = torch.Generator().manual_seed(seed)
    size = torch.tensor([6.0, 2.8, 4.5])
    half = torch.rand(NUM_OBJECTS, 3, generator=gen) * torch.tensor([0.8, 0.85, 0.8]) + torch.tensor([0.2, 0.15, 0.2])
    centre = torch.rand(NUM_OBJECTS, 3, generator=gen) * (size - 2 * half) + half
    centre[:, 1] = half[:, 1]  # standing on the floor
    # Uniform point in the box, then pushed onto a random face: a surface sample.
    local = (torch.rand(NUM_OBJECTS, POINTS_PER_OBJECT, 3, generator=gen) * 2 - 1)
    axis = torch.randint(0, 3, (NUM_OBJECTS, POINTS_PER_OBJECT), generator=gen)
    side = torch.randint(0, 2, (NUM_OBJECTS, POINTS_PER_OBJECT), generator=gen).float() * 2 - 1
    local.scatter_(2, axis[..., None], side[..., None])
    objects = (centre[:, None] + local * half[:, None]).reshape(-1, 3)
    classes = torch.randint(0, 8, (NUM_OBJECTS,), generator=gen).repeat_interleave(POINTS_PER_OBJECT) + 1
    corners = torch.tensor([[x, y, z] for y in (0.0, 2.8) for x in (0.0, 6.0) for z in (0.0, 4.5)])
    points = torch.cat([corners, objects])[:NUM_POINTS]
    labels = torch.cat([torch.zeros(8, dtype=torch.long), classes])[:NUM_POINTS]
    queries = objects[:NUM_QUERIES]
    return points[None], labels[None], queries[None]


def queries_per_second(cfg: FieldConfig, scene, device, repeats: int, mode=torch.inference_mode) -> float:
    torch.manual_seed(0)
    field = cfg.build().to(device).eval()
    points, labels, queries = (t.to(device) for t in scene)
    with mode():
        return queries.shape[1] / median_seconds(lambda: field(queries, points, labels), repeats, device)


def old_describe(field, query: torch.Tensor, points: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The descriptors (B, Q, out_dim) as computed before issue 18: the full neighbour search (explicit
    lengths turn off the slab search), one chunk from the ~64 MB budget, `_tokens` then `_encode`
    (post-norm layers via SDPA, summary-only last layer, no folding)."""
    cfg = field.cfg
    full = torch.full((points.shape[0],), points.shape[1], device=points.device)
    dist, idx, mask = ball_query(query, points, cfg.radius, max(cfg.max_neighbors, cfg.neighbor_pool), full)
    if cfg.neighbor_pool > cfg.max_neighbors:
        dist, idx, mask = spread_by_rank(dist, idx, mask, cfg.max_neighbors)
    b, q, k = dist.shape
    scaled = (torch.where(mask, dist, torch.zeros_like(dist)) / cfg.radius).reshape(b * q, k)
    lab = gather(labels.long(), idx).masked_fill(~mask, 0).reshape(b * q, k) if cfg.uses_semantics else None
    mask = mask.reshape(b * q, k)
    counts = mask.sum(-1)
    order = torch.argsort(counts, descending=True, stable=True)
    chunk = max(1, (1 << 24) // ((k + 1) * max(cfg.feedforward, 3 * cfg.width)))
    pieces = []
    for start, length in zip(range(0, b * q, chunk), counts[order[::chunk]].tolist()):
        rows = order[start:start + chunk]
        tokens = field._tokens(scaled[rows, :length], None if lab is None else lab[rows, :length])
        pieces.append(field._encode(tokens, mask[rows, :length]))
    out = field.final_lin(torch.cat(pieces)[torch.argsort(order)])
    out = torch.nn.functional.normalize(out, dim=-1) if cfg.normalize else out
    return out.reshape(b, q, -1)


def parts(cfg: FieldConfig, scene, repeats: int) -> None:
    """CPU milliseconds (process time, median) per part of one call, old path vs new, CPU only."""
    import time

    def ms(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        return 1e3 * statistics.median(times)

    torch.manual_seed(0)
    field = cfg.build().eval()
    points, labels, queries = scene
    k = cfg.max_neighbors
    full = torch.full((1,), points.shape[1])
    with torch.inference_mode():
        dist, idx, mask = ball_query(queries, points, cfg.radius, k)
        scaled = (torch.where(mask, dist, torch.zeros_like(dist)) / cfg.radius)[0]
        lab = gather(labels, idx).masked_fill(~mask, 0)[0] if cfg.uses_semantics else None
        valid = mask[0]
        tokens = field._tokens(scaled, lab)
        summary = field._encode(tokens, valid)
        rows = [
            ("neighbour search (ball_query)", ms(lambda: ball_query(queries, points, cfg.radius, k, full)),
             ms(lambda: ball_query(queries, points, cfg.radius, k))),
            ("token embedding (_tokens)", ms(lambda: field._tokens(scaled, lab)), float("nan")),
            ("transformer (_encode, one chunk)", ms(lambda: field._encode(tokens, valid)), float("nan")),
            ("pooling (final_lin + normalise)",
             ms(lambda: torch.nn.functional.normalize(field.final_lin(summary), dim=-1)), float("nan")),
            ("tokens + transformer + pooling", float("nan"), ms(lambda: field._describe_flat(scaled, lab, valid, None))),
            ("whole call", ms(lambda: old_describe(field, queries, points, labels)), ms(lambda: field(queries, points, labels))),
        ]
    print(f"\nparts of one call, {cfg.max_neighbors} neighbours, CPU ms (process time), {torch.get_num_threads()} threads")
    print(f"  {'part':36s} {'old':>7s} {'new':>7s}")
    for name, old, new in rows:
        print(f"  {name:36s} {old:7.1f} {new:7.1f}")


def compare_qps(cfg: FieldConfig, scene, device, repeats: int) -> tuple[float, float, float]:
    """(old-path queries/s, new queries/s, max abs difference), timed alternately in one run."""
    torch.manual_seed(0)
    field = cfg.build().to(device).eval()
    points, labels, queries = (t.to(device) for t in scene)
    with torch.inference_mode():
        diff = float((old_describe(field, queries, points, labels) - field(queries, points, labels)).abs().max())
        old, new = [], []
        for _ in range(repeats):  # alternate, so that load on a shared machine hits both alike
            old.append(median_seconds(lambda: old_describe(field, queries, points, labels), 1, device))
            new.append(median_seconds(lambda: field(queries, points, labels), 1, device))
    n = queries.shape[1]
    return n / statistics.median(old), n / statistics.median(new), diff


def _torch_encoder_qps(cfg: FieldConfig, scene, device, repeats: int, nested: bool, mode,
                      fastpath: bool = True) -> float:
    """The same descriptor computed with torch's own nn.TransformerEncoder.forward (for comparison)."""
    torch.backends.mha.set_fastpath_enabled(fastpath)
    try:
        return _torch_encoder_run(cfg, scene, device, repeats, nested, mode)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)


def _torch_encoder_run(cfg: FieldConfig, scene, device, repeats: int, nested: bool, mode) -> float:
    torch.manual_seed(0)
    field = cfg.build().to(device).eval()
    field.feat_transformer.enable_nested_tensor = nested
    field.feat_transformer.use_nested_tensor = nested
    points, labels, queries = (t.to(device) for t in scene)

    def run():
        dist, idx, mask = ball_query(queries, points, cfg.radius, cfg.max_neighbors)
        scaled = torch.where(mask, dist, torch.zeros_like(dist))[0] / cfg.radius
        tokens = field._tokens(scaled, gather(labels, idx)[0].masked_fill(~mask[0], 0))
        x = torch.cat([field.summary_emb.weight.expand(len(tokens), 1, -1), tokens], 1)
        pad = torch.cat([mask.new_zeros(len(tokens), 1), ~mask[0]], 1)
        out = field.final_lin(field.feat_transformer(x, src_key_padding_mask=pad)[:, 0])
        return torch.nn.functional.normalize(out, dim=-1)

    with mode():
        return queries.shape[1] / median_seconds(run, repeats, device)


def explore(scene, device, repeats: int) -> None:
    base = dataclasses.replace(PRESETS["paper"], num_layers=3, feedforward=128, max_neighbors=32)
    print("\n(1) evaluation strategy, 3 layers / ff 128 / 32 neighbours, queries/s")
    for label, fn in [
        ("nn.TransformerEncoder, no_grad, fast path disabled", lambda: _torch_encoder_qps(base, scene, device, repeats, False, torch.no_grad, fastpath=False)),
        ("nn.TransformerEncoder, inference_mode, fast path, nested", lambda: _torch_encoder_qps(base, scene, device, repeats, True, torch.inference_mode)),
        ("nn.TransformerEncoder, inference_mode, fast path, no nested", lambda: _torch_encoder_qps(base, scene, device, repeats, False, torch.inference_mode)),
        ("field._encode (SDPA, summary-only last layer), no_grad", lambda: queries_per_second(base, scene, device, repeats, torch.no_grad)),
        ("field._encode (SDPA, summary-only last layer), inference_mode", lambda: queries_per_second(base, scene, device, repeats)),
    ]:
        print(f"  {label:62s} {fn():8.0f}", flush=True)
    print("\n(2) architecture grid with field._encode, inference_mode, queries/s")
    print(f"  {'layers':>6s} {'heads':>5s} {'ff':>5s} {'k':>4s} {'q/s':>8s}")
    # Heads matter on the CPU: at width 64, 8 heads of size 8 make many tiny attention matmuls.
    for layers in (2, 3, 4):
        for heads in (2, 8):
            for ff in (64, 128, 256):
                for k in (32, 48, 64):
                    cfg = dataclasses.replace(base, num_layers=layers, num_heads=heads, feedforward=ff, max_neighbors=k)
                    qps = queries_per_second(cfg, scene, device, repeats)
                    print(f"  {layers:6d} {heads:5d} {ff:5d} {k:4d} {qps:8.0f}", flush=True)
    print("\n(3) k tokens spread over the nearest 100 (neighbor_pool), 3 layers / ff 128 / 2 heads, queries/s")
    for k in (32, 48, 64):
        cfg = dataclasses.replace(base, num_heads=2, max_neighbors=k, neighbor_pool=100)
        print(f"  k {k:3d}, pool 100 {queries_per_second(cfg, scene, device, repeats):8.0f}", flush=True)


TRAIN_BATCH, TRAIN_QUERIES = 4, 32


def training_steps_per_second(cfg: FieldConfig, scene, device, repeats: int) -> float:
    """One trainer step (scene_analogy.train.infonce) on 3 x TRAIN_BATCH copies of the room scene."""
    from scene_analogy.training.loop import infonce

    points, labels, queries = (t.to(device) for t in scene)
    field = cfg.build().to(device).train()
    optimizer = torch.optim.Adam([p for p in field.parameters() if p.requires_grad], lr=1e-4)
    b = 3 * TRAIN_BATCH
    pts, lab = points.expand(b, -1, -1), labels.expand(b, -1)
    q = queries[:, torch.randperm(queries.shape[1], generator=torch.Generator().manual_seed(0))[:TRAIN_QUERIES]]

    def step():
        loss, _ = infonce(field(q.expand(b, -1, -1), pts, lab), 0.2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return 1.0 / median_seconds(step, repeats, device)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--explore", action="store_true", help="also print the measurements behind 'fast'")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads first (0: leave)")
    parser.add_argument("--compare", action="store_true", help="also time the pre-issue-18 path, same run")
    parser.add_argument("--skip-training", action="store_true", help="no training steps/s rows")
    parser.add_argument("--parts", action="store_true", help="CPU ms per part, old vs new, 'fast' (CPU)")
    parser.add_argument("--only", default="", help="comma-separated row names (e.g. fast,pretrained/no_semantic)")
    args = parser.parse_args(argv)
    print(commands_policy(), flush=True)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    scene = room_scene()
    points, _, queries = scene
    dist, _, mask = ball_query(queries, points, 0.75, NUM_POINTS)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{NUM_QUERIES} queries vs {NUM_POINTS} keypoints; neighbours within 0.75 m: "
          f"mean {mask.sum(-1).float().mean():.0f}, min {mask.sum(-1).min()}")
    extra = f" {'old q/s':>10s} {'speed-up':>8s} {'max |diff|':>10s}" if args.compare else ""
    print(f"{'preset':30s} {'layers':>6s} {'heads':>5s} {'ff':>5s} {'k':>4s} {'pool':>4s} {'width':>5s} {'queries/s':>10s}"
          + extra)
    root = os.path.join(REPO, "pretrained")
    shipped = {f"pretrained/{d}": load_config(os.path.join(root, d)) for d in sorted(os.listdir(root))
               if os.path.isfile(os.path.join(root, d, "config.json"))}
    for name, cfg in {**PRESETS, **shipped}.items():
        if args.only and name not in args.only.split(","):
            continue
        if args.compare:
            old, qps, diff = compare_qps(cfg, scene, device, args.repeats)
            extra = f" {old:10.0f} {qps / old:7.2f}x {diff:10.2e}"
        else:
            qps, extra = queries_per_second(cfg, scene, device, args.repeats), ""
        print(f"{name:30s} {cfg.num_layers:6d} {cfg.num_heads:5d} {cfg.feedforward:5d} {cfg.max_neighbors:4d} "
              f"{cfg.neighbor_pool:4d} {cfg.width:5d} {qps:10.0f}" + extra,
              flush=True)
    if args.parts:
        parts(PRESETS["fast"], scene, args.repeats)
    if args.skip_training:
        return
    print(f"\ntraining steps/s (batch {TRAIN_BATCH} triplets x {TRAIN_QUERIES} queries, forward + backward + Adam)")
    for name in ("paper", "fast", "fast-semantics-free"):
        print(f"{name:22s} {training_steps_per_second(PRESETS[name], scene, device, args.repeats):10.2f}", flush=True)
    if args.explore:
        explore(scene, device, args.repeats)


if __name__ == "__main__":
    main()
