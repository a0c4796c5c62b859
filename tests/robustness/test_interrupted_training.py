"""A training run killed with SIGKILL in the middle of writing a checkpoint resumes from the last
whole one. The kill is placed exactly: the test hook of `scene_analogy.atomic` cuts the temporary
file of the second `train_state.pth` write to half and pauses there (a write in progress)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import torch

from scene_analogy.field.checkpoint import load_field
from scene_analogy.files.atomic import PAUSE_VARIABLE

from .damage import TINY_TRAIN
from .workspace import REPO


def _command(scene_root, log_dir) -> list[str]:
    flags = [f for f in TINY_TRAIN]
    flags[flags.index("--steps") + 1] = "4"
    flags[flags.index("--val_every") + 1] = "2"
    return [sys.executable, "-m", "scene_analogy.train", "--scene_root", str(scene_root), "--log_dir", str(log_dir), *flags]


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", **extra}


def _state_step(path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


def test_sigkill_while_writing_a_checkpoint_resumes_from_the_last_whole_one(workspace, tmp_path):
    log_dir = tmp_path / "run"
    proc = subprocess.Popen(_command(workspace.scenes, log_dir), env=_env(**{PAUSE_VARIABLE: "train_state.pth:2"}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(300, proc.kill)  # a run that never pauses must not hang the suite
    watchdog.start()
    try:
        seen = []
        for line in proc.stdout:  # ends at EOF if the run dies first
            seen.append(line)
            if line.startswith("paused writing"):
                break
        assert seen and seen[-1].startswith("paused writing"), "".join(seen) + proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # Killed mid-write: the half-written temporary is there, the checkpoint of step 2 is whole.
    partial = list(log_dir.glob(".train_state.pth.*.tmp"))
    assert len(partial) == 1 and partial[0].stat().st_size > 0
    assert _state_step(log_dir / "train_state.pth") == 2
    load_field(log_dir)  # model.pth + config.json load and agree
    assert all(h["step"] <= 4 for h in json.loads((log_dir / "history.json").read_text()))

    done = subprocess.run(_command(workspace.scenes, log_dir), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"resuming from {log_dir / 'train_state.pth'} at step 2" in done.stdout
    assert "left by an interrupted save" in done.stdout
    assert _state_step(log_dir / "train_state.pth") == 4
    assert [h["step"] for h in json.loads((log_dir / "history.json").read_text())] == [1, 2, 3, 4]
    final = torch.load(log_dir / "train_state.pth", map_location="cpu", weights_only=True)["state_dict"]
    field = load_field(log_dir)
    assert all(torch.equal(field.state_dict()[k], v) for k, v in final.items())
    assert not [p for p in log_dir.rglob("*") if ".tmp" in p.name]
