"""A matching run over a pair source, with its outputs: the body of every `main_field_match`, the
demo and `python -m scene_analogy.evaluate`.

`run_field_match` writes under the log folder `metrics.json` (DESIGN §6 keys), `pairs.json` (per
pair: name, whether a map was found, its cost, seconds), `maps/<pair>.npz` and `pair_<i>.png`;
pass r of `eval_reps` draws the RoIs from seed + r. `compare_methods` scores several methods on the
same examples and writes `results.json`, `results.md` and one folder per method (with `errors.npz`:
every scored point's error, for threshold curves).

Both take `ranks` (`evaluation.ranks`): under torchrun each rank matches its share of the pairs and
rank 0 alone writes (and prints) the outputs, the same files as one process writes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from scene_analogy.evaluation.examples import PairSource, load_examples, pairs_protocol
from scene_analogy.evaluation.loop import evaluate_examples, evaluate_method, match_scene, pair_rows
from scene_analogy.evaluation.metrics import format_table, point_errors, write_metrics_json
from scene_analogy.evaluation.ranks import ONE, Ranks
from scene_analogy.files import atomic

TABLE_KEYS = ("pcp@0.25", "pcp@0.5", "pcp@0.75", "free_pcp@0.25", "free_collision_rate", "right_objects", "bi_pcp@0.25",
              "chamfer_acc@0.15", "sem_chamfer_acc@0.15", "seconds_per_pair", "num_pairs")


def save_pair_pictures(examples, records, results, samples, out_dir: str | os.PathLike, count: int,
                       show_candidates: bool = False, keypoints: str = "disjoint") -> int:
    """`pair_<i>.png` for the first `count` pairs (all when count < 0); returns how many were drawn.
    The reference is drawn at the keypoints the method saw (`keypoints`); the matched reference objects
    are outlined bold; the coarse candidates drawn only with show_candidates; a record's free points
    (and their images), when it has them, drawn faintly."""
    from scene_analogy.vis.match_pictures import save_analogy_png

    chosen = list(zip(examples, records, results))
    chosen = chosen if count < 0 else chosen[:count]
    for i, (ex, rec, res) in enumerate(chosen):
        title = f"{ex.name}: cost {res.best.cost:.3f}" if res.best else f"{ex.name}: no analogy"
        reference = match_scene(ex.reference, samples.with_keypoints(keypoints))
        save_analogy_png(match_scene(ex.target, samples), reference, ex.roi, rec.roi_points,
                         rec.mapped, Path(out_dir) / f"pair_{i}.png", res.candidate_boxes, title=title,
                         gt_points=rec.gt_points, matched=None if res.best is None else res.best.correspondence[:, 1],
                         free_points=rec.free_points, free_mapped=rec.free_mapped,
                         show_candidates=show_candidates)
    return len(chosen)


def run_field_match(src: PairSource, samples, local_field, global_field, cfg, log_dir: str | os.PathLike,
                    seed: int = 0, eval_reps: int = 1, thresholds: dict | None = None, num_pictures: int = 4,
                    progress: bool = True, keypoints: str = "disjoint", ranks: Ranks = ONE) -> dict | None:
    """Match every pair of `eval_reps` passes, write the outputs (module docstring); returns the metrics
    (None on ranks other than 0). `keypoints`: see `evaluation.loop.evaluate_method`."""
    out = Path(log_dir)
    examples, seen = [], {}
    for rep in range(eval_reps):
        for ex in load_examples(src, seed + rep):
            ex.name = ex.name if eval_reps == 1 else f"{ex.name}#rep{rep}"
            seen[ex.name] = seen.get(ex.name, 0) + 1
            ex.name = ex.name if seen[ex.name] == 1 else f"{ex.name}#{seen[ex.name]}"  # a pair file may repeat a pair
            examples.append(ex)
    torch.manual_seed(seed)
    metrics, records, results = evaluate_examples(examples, samples, local_field, global_field, cfg,
                                                  maps_dir=out / "maps", thresholds=thresholds, progress=progress,
                                                  keypoints=keypoints,
                                                  protocol=pairs_protocol(src.pair_type, src.scene_root),
                                                  ranks=ranks)
    if not ranks.main:
        return None
    drawn = save_pair_pictures(examples, records, results, samples, out, num_pictures, keypoints=keypoints)
    atomic.write_json(out / "pairs.json", pair_rows(examples, records, results))
    write_metrics_json(out / "metrics.json", metrics)
    return {"metrics": metrics, "pictures": drawn, "pairs": len(examples), "maps": sum(r.best is not None for r in results)}


def save_point_errors(path: str | os.PathLike, records) -> None:
    """`errors.npz`: every scored point's error, "roi" and "free" (inf: no map), for threshold curves
    (`scripts/protocol_report.py`)."""
    errors = [point_errors(r) for r in records]
    atomic.save_npz(path, {"roi": np.concatenate([e[0] for e in errors]), "free": np.concatenate([e[1] for e in errors])})


def markdown_table(results: dict, command: str) -> str:
    """results.md: one row per method, the TABLE_KEYS columns."""
    lines = ["| method | " + " | ".join(TABLE_KEYS) + " |", "| --- |" + " --- |" * len(TABLE_KEYS)]
    for method, metrics in results.items():
        cells = []
        for key in TABLE_KEYS:
            value = metrics.get(key)
            cells.append("n/a" if value is None or value != value else str(value) if key == "num_pairs"
                         else f"{value:.2f} s" if key == "seconds_per_pair" else f"{value:.3f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nCommand: `{command}`\n"


def compare_methods(examples, samples, methods: dict, out: str | os.PathLike, command: str, num_pictures: int = 4,
                    seed: int = 0, keypoints: str = "disjoint", protocol: dict | None = None,
                    ranks: Ranks = ONE) -> dict | None:
    """Every method (name -> callable) on the same examples; per method `metrics.json`, `pairs.json` and
    `pair_<i>.png` under `out/<name>/`; `results.json` and `results.md` rewritten after each method, so a
    long run keeps what it has finished. Returns {name: metrics} (None on ranks other than 0)."""
    out = Path(out)
    results = {}
    for name, method in methods.items():
        torch.manual_seed(seed)
        metrics, records, outputs = evaluate_method(examples, samples, method, desc=name, keypoints=keypoints,
                                                    protocol=protocol, ranks=ranks)
        if not ranks.main:
            continue
        save_pair_pictures(examples, records, outputs, samples, out / name, num_pictures, keypoints=keypoints)
        write_metrics_json(out / name / "metrics.json", metrics)
        atomic.write_json(out / name / "pairs.json", pair_rows(examples, records, outputs))
        save_point_errors(out / name / "errors.npz", records)
        results[name] = metrics
        write_metrics_json(out / "results.json", results)
        atomic.write_text(out / "results.md", markdown_table(results, command))
        print(f"\n{name}\n{format_table(metrics)}", flush=True)
    return results if ranks.main else None
