"""The evaluation under three protocols side by side: a markdown table and PCP / free-PCP curves.

    python scripts/protocol_report.py results/evaluation

reads `<dir>/<protocol>/results.json` and `<dir>/<protocol>/<method>/errors.npz` (written by
`python -m scene_analogy.evaluate`) for the protocols `disjoint_grid`, `disjoint_continuous` and
`shared_grid` (the README's commands), and writes `<dir>/protocols.md` (one row per method, the three
protocols side by side for each metric) and `<dir>/pcp_curves.png` (PCP and free-PCP against the
threshold, one panel per protocol, a line per method).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scene_analogy.files import atomic  # noqa: E402
from scene_analogy.vis.pictures import save_figure  # noqa: E402

PROTOCOLS = {"disjoint_grid": "disjoint, grid yaw", "disjoint_continuous": "disjoint, any yaw",
             "shared_grid": "shared (paper), grid yaw"}
COLUMNS = (("pcp@0.25", "PCP@0.25"), ("free_pcp@0.25", "free-PCP@0.25"), ("right_objects", "right objects"),
           ("chamfer_acc@0.15", "Chamfer acc@0.15"), ("bi_pcp@0.25", "Bi-PCP@0.25"),
           ("free_collision_rate", "free points into furniture"))
THRESHOLDS = np.linspace(0.0, 1.0, 101)


def _cell(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def table(results: dict[str, dict]) -> str:
    """Markdown: a row per method; per metric the protocols' values as `a / b / c`."""
    methods = list(next(iter(results.values())))
    names = " / ".join(PROTOCOLS[p] for p in results)
    lines = [f"Each cell: {names}.", "",
             "| method | " + " | ".join(title for _, title in COLUMNS) + " | s / pair |",
             "| --- |" + " --- |" * (len(COLUMNS) + 1)]
    for method in methods:
        cells = [" / ".join(_cell(results[p].get(method, {}).get(key)) for p in results) for key, _ in COLUMNS]
        seconds = results[next(iter(results))].get(method, {}).get("seconds_per_pair")
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {_cell(seconds)} |")
    return "\n".join(lines) + "\n"


def curves(root: Path, results: dict[str, dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5 * len(results), 8), sharex=True, sharey=True, squeeze=False)
    for col, protocol in enumerate(results):
        for method in results[protocol]:
            errors = np.load(root / protocol / method / "errors.npz", allow_pickle=False)
            for row, key in enumerate(("roi", "free")):
                values = errors[key]
                if len(values):
                    axes[row, col].plot(THRESHOLDS, (values[None] < THRESHOLDS[:, None]).mean(1), label=method)
        axes[0, col].set_title(PROTOCOLS[protocol])
        for row, what in enumerate(("PCP (RoI surface points)", "free-PCP (open space around the RoI)")):
            axes[row, col].set_ylabel(what)
            axes[row, col].grid(alpha=0.3)
        axes[1, col].set_xlabel("threshold (m)")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    save_figure(fig, path, dpi=110)


def main(argv=None) -> None:
    root = Path((argv if argv is not None else sys.argv[1:] or ["results/evaluation"])[0])
    results = {p: json.loads((root / p / "results.json").read_text()) for p in PROTOCOLS if (root / p / "results.json").is_file()}
    if not results:
        sys.exit(f"error: {root}: no <protocol>/results.json for any of {', '.join(PROTOCOLS)}")
    atomic.write_text(root / "protocols.md", table(results))
    curves(root, results, root / "pcp_curves.png")
    print(table(results))
    print(f"wrote {root / 'protocols.md'} and {root / 'pcp_curves.png'}")


if __name__ == "__main__":
    main()
