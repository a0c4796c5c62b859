"""Pairs split across processes (`evaluation.ranks`): the slicing, and `torchrun --nproc_per_node 2`
writing what one process writes (seconds excepted: they are measured), for `scene_analogy.evaluate`
and `main_field_match`; a failing rank stops the command with one line instead of a hang."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scene_analogy import evaluate
from scene_analogy.evaluation.ranks import ONE, restore, share
from scene_analogy.files.errors import DataError
from scene_analogy.synthetic.dataset import ensure_eval_pairs
from threed_front import main_field_match

REPO = Path(__file__).resolve().parents[1]
NUM_PAIRS = 3  # odd: the two ranks get 2 and 1 pairs


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_share_takes_every_item_once_and_restore_puts_them_back(world):
    for n in range(12):
        parts = [share(n, rank, world) for rank in range(world)]
        assert sorted(i for part in parts for i in part) == list(range(n))
        items = [f"pair_{i}" for i in range(n)]
        assert restore([[items[i] for i in part] for part in parts], n) == items


def test_share_and_restore_reject_what_does_not_fit():
    with pytest.raises(ValueError):
        share(4, 2, 2)
    with pytest.raises(ValueError):
        restore([[0, 2], [1, 3]], 3)  # rank 1 of 2 holds one item of 3, not two


def test_one_process_is_a_plain_loop():
    assert ONE.main and ONE.device("cuda") == "cuda"
    assert ONE.map(lambda x: x + 1, [1, 2, 3], progress=False) == [2, 3, 4]
    with pytest.raises(DataError):  # as it is: the command's boundary turns it into one line
        ONE.map(lambda x: (_ for _ in ()).throw(DataError(None, "bad")), [1], progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "SCENE_ANALOGY_RANK_TIMEOUT": "60"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def one_thread():
    """The ranks run with OMP_NUM_THREADS=1; the one-process run does too, since a float sum's order (and so
    its last bit) depends on how many threads share it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _without_seconds(value):
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if k not in ("seconds", "seconds_per_pair")}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def assert_same_outputs(one: Path, two: Path) -> None:
    """Every file of `one` is in `two` with the same content; JSON without seconds, npz array by array."""
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    for rel in files:
        a, b = one / rel, two / rel
        if rel.suffix == ".json":
            assert _without_seconds(json.loads(a.read_text())) == _without_seconds(json.loads(b.read_text())), rel
        elif rel.suffix == ".npz":
            with np.load(a) as x, np.load(b) as y:
                assert sorted(x.files) == sorted(y.files), rel
                for key in x.files:
                    np.testing.assert_array_equal(x[key], y[key], err_msg=f"{rel}:{key}")
        elif rel.suffix == ".md":  # the table holds seconds and the command (its --out)
            assert a.read_text().count("\n") == b.read_text().count("\n")
        else:
            assert a.read_bytes() == b.read_bytes(), rel


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthetic"
    ensure_eval_pairs(root, NUM_PAIRS, 0)
    return root


def test_evaluate_on_two_ranks_writes_what_one_writes(scene_root, tmp_path, one_thread):
    flags = ["--scene_root", str(scene_root), "--methods", "ours,scene_graph", "--num_pairs", str(NUM_PAIRS),
             "--num_pictures", "2"]
    evaluate.main(flags + ["--out", str(tmp_path / "one")])
    run = _torchrun(["-m", "scene_analogy.evaluate", *flags, "--out", str(tmp_path / "two")])
    assert run.returncode == 0, run.stderr[-3000:]
    assert_same_outputs(tmp_path / "one", tmp_path / "two")
    assert json.loads((tmp_path / "two/results.json").read_text())["ours"]["num_pairs"] == NUM_PAIRS
    assert run.stdout.count("wrote ") == 1  # rank 0 alone prints


def test_field_match_on_two_ranks_writes_what_one_writes(scene_root, tmp_path, one_thread):
    flags = ["--scene_root", str(scene_root), "--point_sample_root", str(scene_root / "point_samples"),
             "--scene_pair_type", "augment", "--scene_buffer_size", str(NUM_PAIRS), "--num_vis", "2", "--quiet"]
    main_field_match.main(flags + ["--log_dir", str(tmp_path / "one")])
    run = _torchrun(["-m", "threed_front.main_field_match", *flags, "--log_dir", str(tmp_path / "two")])
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(list((tmp_path / "two/maps").glob("*.npz"))) >= 1  # per-pair files, written by rank 0
    assert_same_outputs(tmp_path / "one", tmp_path / "two")


@pytest.mark.parametrize("failure", ["data", "bug"])
def test_ranks_gather_in_order_and_a_failing_rank_stops_every_rank_with_one_line(failure):
    run = _torchrun([str(REPO / "tests/rank_worker.py"), failure], timeout=60)
    assert "gathered [0, 1, 4, 9, 16, 25, 36]" in run.stdout, run.stderr[-3000:]
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "rank 1 of 2 failed on item 3" in lines[0], run.stderr[-3000:]
    assert ("a broken pair" if failure == "data" else "ValueError: a bug") in lines[0]
    assert ("in work" in run.stderr) == (failure == "bug")  # a programming error keeps its traceback


def test_ranks_leave_together_after_rank_0_has_written(tmp_path):
    """No rank tears the process group down while rank 0 still writes (seen to abort in gloo)."""
    marker = tmp_path / "written.txt"
    run = _torchrun([str(REPO / "tests/rank_worker.py"), "leave", str(marker)], timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rank 0 leaves, written: True" in run.stdout and "rank 1 leaves, written: True" in run.stdout, run.stdout
