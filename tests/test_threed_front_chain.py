"""End to end on a raw fixture tree: every threed_front entry module, from house JSON and OBJ files to
metrics JSON, with the published flags and tiny counts (run in-process, from the tree's root)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from scene_analogy.fixtures.threed_front import write_tree
from scene_analogy.structures.classes import THREED_FRONT
from scene_analogy.structures.pool import ObjectPool
from scene_analogy.structures.scene import read_eval_pair, read_triplet, scene_dirs
from threed_front import extract_point_samples, main_field_match, main_scene_augment, main_scene_gen, trainer

REPO = Path(__file__).resolve().parents[1]
ROOT = "./data/3d_front_scenes/3d_front_large_noise"
KEYS = ["pcp@0.25", "pcp@0.5", "pcp@0.75", "bi_pcp@0.25", "bi_pcp@0.5", "bi_pcp@0.75", "chamfer_acc@0.15",
        "chamfer_acc@0.2", "chamfer_acc@0.25", "sem_chamfer_acc@0.15", "sem_chamfer_acc@0.2", "sem_chamfer_acc@0.25",
        "free_pcp@0.25", "free_pcp@0.5", "free_pcp@0.75", "free_collision_rate", "right_objects",
        "seconds_per_pair", "num_pairs", "protocol"]
# The published matcher flags (seed README), with smaller searches so a pair takes ~1 s.
MATCH = ["--load_local_feature_field", "./log/train/model.pth", "--load_global_feature_field",
         "./log/train/model.pth", "--num_vert_split", "1", "--local_rbf_smoothing", "0.5", "--eval_reps", "1",
         "--batch_size", "1", "--global_num_rot", "2", "--global_dist_valid_thres", "1.5", "--global_mapping_type",
         "scale_rot", "--global_topk", "4", "--seed", "10", "--quiet"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The fixture tree after sampling, scene generation, augmentation and a few training steps."""
    root = tmp_path_factory.mktemp("tdf")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    # --wandb with no credentials: a stand-in module records how wandb would be started
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        mp.delenv(name, raising=False)
    mp.setenv("HOME", str(root))
    started = {}
    fake = types.SimpleNamespace(init=lambda **kw: started.update(kw) or types.SimpleNamespace(
        log=lambda *a, **k: None, finish=lambda: None))
    mp.setitem(sys.modules, "wandb", fake)
    try:
        write_tree(root, num_houses=6, seed=0, progress=False)
        extract_point_samples.main(["--save_num_samples", "50", "100", "--mesh_num_samples", "400", "--quiet"])
        main_scene_gen.main(["--num_load_layout", "-1", "--save_root", ROOT, "--max_trans_noise", "0.5",
                             "--max_rot_noise", "90", "--num_scenes", "20", "--quiet"])
        main_scene_augment.main(["--orig_scene_root", ROOT, "--quiet"])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
                trainer.main(["--scene_root", ROOT, "--normalize_feats", "--wandb", "--log_dir", "./log/train", "--run_name",
                          "t", "--agg_radius", "0.75", "--num_cache_query", "50", "--query_point_type", "obj_match_points",
                          "--query_obj_match_add_bbox", "--steps", "3", "--num_workers", "0", "--val_scenes", "2",
                          "--transformer_num_layers", "1", "--transformer_feedforward", "32", "--agg_radius_limit", "16"])
        assert started["mode"] == "offline" and started["dir"] == "./log/train"
        assert "no credentials found; logging offline" in out.getvalue()
        yield root
    finally:
        mp.undo()


def test_raw_tree_to_triplets(tree):
    assert len(list((tree / "data/3D-FRONT").glob("*.json"))) == 6
    info = json.loads((tree / "data/3D-FUTURE-model/model_info.json").read_text())
    assert len(info) >= 40 and {r["super-category"].lower() for r in info} == set(THREED_FRONT.names)
    pool = ObjectPool.load_json(tree / ROOT / "object_pool.json")
    assert not {m.model_id for m in pool.select(split="train")} & {m.model_id for m in pool.select(split="test")}
    for d in scene_dirs(tree / ROOT):
        triplet = read_triplet(d / "scene.npz", classes=THREED_FRONT)
        assert len(triplet["pos"]) >= 2
        np.testing.assert_array_equal(triplet["pos"].class_ids, triplet["pair_pos"].class_ids)
        split = d.name.split("_")[0]
        assert all(pool[m].split == split for m in triplet["pair_pos"].model_ids if m not in triplet["pos"].model_ids)
    assert len(scene_dirs(tree / ROOT, "train")) == 18 and len(scene_dirs(tree / ROOT, "test")) == 2
    assert (tree / "data/3d_front_point_samples/sample_100").is_dir()
    pair = read_eval_pair(tree / f"{ROOT}_augment/test_scene_0/scene.npz")
    assert (pair.idx_map >= 0).sum() >= 2
    assert (tree / "log/train/model.pth").is_file() and (tree / "log/train/curve.png").is_file()


@pytest.mark.parametrize("pair_type", ["identical", "augment", "random", "manual", "hist_match"])
def test_every_pair_type_writes_metrics(tree, pair_type, monkeypatch, tmp_path):
    monkeypatch.chdir(tree)
    log = tmp_path / "log"
    extra = ["--scene_pair_file", str(REPO / "sample_scene_pairs/fixture_threed_front.tsv")] if pair_type == "manual" else []
    extra += ["--vis_local_match_mode", "intra_match", "--vis_method", "screen"] if pair_type == "manual" else []
    buffer = "2" if pair_type in ("random", "hist_match") else "1"  # these two need two scene folders
    main_field_match.main(MATCH + ["--scene_root", ROOT, "--log_dir", str(log), "--scene_pair_type", pair_type, "--scene_buffer_size", buffer,
                                   "--query_point_type", "obj_match_points"] + extra)
    metrics = json.loads((log / "metrics.json").read_text())
    assert list(metrics) == KEYS and metrics["num_pairs"] >= 1
    assert metrics["protocol"] == {"keypoints": "disjoint", "pairs": pair_type,
                                   **({"global_yaw": "grid"} if pair_type == "augment" else {})}
    rows = json.loads((log / "pairs.json").read_text())
    assert len(rows) == metrics["num_pairs"]
    if pair_type in ("random", "hist_match"):
        assert metrics["pcp@0.25"] is None  # no ground truth: left out of PCP
    else:
        assert 0.0 <= metrics["pcp@0.25"] <= 1.0
    if pair_type == "identical":
        assert metrics["pcp@0.75"] == 1.0  # the reference is the target itself
    assert len(list(log.glob("pair_*.png"))) == metrics["num_pairs"]
    assert len(list((log / "maps").glob("*.npz"))) == sum(r["map"] for r in rows)


def test_authors_pickled_idx_map_needs_allow_pickle(tree, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tree)
    shutil.copytree(tree / ROOT, tmp_path / "authors")
    shutil.copytree(tree / f"{ROOT}_augment", tmp_path / "authors_augment")
    path = tmp_path / "authors_augment/test_scene_0/scene.npz"
    with np.load(path) as npz:
        arrays = dict(npz)
    # the authors' files keep {target index: original index} as a pickled dict inside the npz
    kept = {i: int(v) for i, v in enumerate(arrays["pair_pos_idx_map"]) if v >= 0}
    arrays["pair_pos_idx_map"] = np.array(kept, dtype=object)
    np.savez(path, **arrays)
    args = MATCH + ["--scene_root", str(tmp_path / "authors"), "--point_sample_root", "./data/3d_front_point_samples",
                    "--scene_pair_type", "augment", "--scene_buffer_size", "1", "--log_dir", str(tmp_path / "log")]
    with pytest.raises(SystemExit) as stop:
        main_field_match.main(args)
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err and "--allow_pickle" in err and "scene.npz" in err
    main_field_match.main(args + ["--allow_pickle"])
    assert json.loads((tmp_path / "log/metrics.json").read_text())["num_pairs"] == 1
