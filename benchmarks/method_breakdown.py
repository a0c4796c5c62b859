"""Where each method's PCP comes from: object assignment or point placement.

    python benchmarks/method_breakdown.py [results/evaluation]

Reads the `<method>/pairs.json` files that `python -m scene_analogy.evaluate` writes and prints, per
method: the share of pairs whose map sends every RoI object to its true reference object, the mean
per-pair PCP@0.25 over those pairs and over the others, and the mean per-pair PCP@0.25 on the pairs
where every method listed got the objects right (placement alone, same pairs for all).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else "results/evaluation")
    files = sorted(root.glob("*/pairs.json"))
    if not files:
        raise SystemExit(f"error: {root}: no <method>/pairs.json (run python -m scene_analogy.evaluate first)")
    runs = {f.parent.name: json.loads(f.read_text()) for f in files}
    names = [r["name"] for r in next(iter(runs.values()))]
    if any([r["name"] for r in rows] != names for rows in runs.values()):
        raise SystemExit(f"error: {root}: the methods were not run on the same pairs")
    right = {m: np.array([r.get("objects_correct", False) for r in rows]) for m, rows in runs.items()}
    pcp = {m: np.array([r.get("pcp@0.25", 0.0) for r in rows]) for m, rows in runs.items()}
    all_right = np.logical_and.reduce(list(right.values()))
    mean = lambda a: float(a.mean()) if len(a) else float("nan")  # noqa: E731
    print(f"{len(names)} pairs; pairs where every method has the right objects: {int(all_right.sum())}")
    print(f"{'method':18s} {'right objects':>14s} {'PCP | right':>12s} {'PCP | wrong':>12s} {'PCP | all right':>16s}")
    for m in runs:
        print(f"{m:18s} {mean(right[m]):14.3f} {mean(pcp[m][right[m]]):12.3f} {mean(pcp[m][~right[m]]):12.3f} "
              f"{mean(pcp[m][all_right]):16.3f}")


if __name__ == "__main__":
    main()
