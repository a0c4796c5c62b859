"""The same command with the same seed gives the same numbers: two runs of the matcher over the same
pairs write identical metrics (timings aside), identical per-pair results and identical maps."""

from __future__ import annotations

import json

import numpy as np

from .conftest import run_command
from .workspace import REPO  # noqa: F401  (the runner sets PYTHONPATH to it)


def _run(workspace, cwd):
    cwd.mkdir()
    argv = ["--scene_root", str(workspace.scenes), "--load_local_feature_field", str(workspace.checkpoint),
            "--log_dir", "out", "--scene_pair_type", "augment", "--scene_buffer_size", "2", "--seed", "7",
            "--global_num_rot", "2", "--global_topk", "2", "--num_vis", "0", "--quiet"]
    done = run_command("threed_front.main_field_match", argv, cwd, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = cwd / "out"
    metrics = {k: v for k, v in json.loads((out / "metrics.json").read_text()).items() if "seconds" not in k}
    pairs = [{k: v for k, v in row.items() if k != "seconds"} for row in json.loads((out / "pairs.json").read_text())]
    maps = {}
    for path in sorted((out / "maps").glob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            maps[path.name] = {k: data[k] for k in data.files}
    return metrics, pairs, maps


def test_same_seed_same_metrics(workspace, tmp_path):
    first, second = _run(workspace, tmp_path / "a"), _run(workspace, tmp_path / "b")
    assert first[0] == second[0] and first[0]["num_pairs"] == 2
    assert first[1] == second[1]
    assert first[2].keys() == second[2].keys() and first[2]
    for name, arrays in first[2].items():
        for key, value in arrays.items():
            np.testing.assert_array_equal(value, second[2][name][key], err_msg=f"{name}:{key}")
