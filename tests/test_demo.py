"""The README's main job, small: generates pairs, loads the shipped checkpoint, writes metrics and PNGs."""

import json
import os
import subprocess
import sys

from scene_analogy.demo import DEFAULT_CHECKPOINT

KEYS = ["pcp@0.25", "pcp@0.5", "pcp@0.75", "bi_pcp@0.25", "bi_pcp@0.5", "bi_pcp@0.75", "chamfer_acc@0.15",
        "chamfer_acc@0.2", "chamfer_acc@0.25", "seconds_per_pair", "num_pairs"]


def test_demo_end_to_end(tmp_path):
    assert (DEFAULT_CHECKPOINT / "model.pth").is_file()
    cmd = [sys.executable, "-m", "scene_analogy.demo", "--scene_root", str(tmp_path / "data" / "demo"),
           "--log_dir", str(tmp_path / "log"), "--num_pairs", "2", "--num_pictures", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"})
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "log" / "metrics.json").read_text())
    assert all(k in metrics for k in KEYS) and metrics["num_pairs"] == 2
    assert "pcp@0.25" in out.stdout
    assert (tmp_path / "log" / "pair_0.png").stat().st_size > 20_000


def test_demo_reports_a_bad_checkpoint_in_one_line(tmp_path):
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    cmd = [sys.executable, "-m", "scene_analogy.demo", "--scene_root", str(tmp_path / "data" / "demo"),
           "--log_dir", str(tmp_path / "log"), "--num_pairs", "2", "--checkpoint", str(tmp_path / "bad.pth")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "bad.pth" in out.stderr and "Traceback" not in out.stderr
