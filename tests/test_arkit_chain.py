"""End to end on a raw ARKit fixture tree: every arkit entry module, from scan PLY and annotation JSON
files to metrics JSON, with the published flags and tiny counts (run in-process, from the tree's root)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arkit import extract_point_samples, main_asset_gen, main_field_match, main_scene_augment, main_scene_gen, trainer
from scene_analogy.field.checkpoint import load_field
from scene_analogy.fixtures.arkit import write_tree
from scene_analogy.structures.classes import ARKIT
from scene_analogy.structures.pool import ObjectPool
from scene_analogy.structures.scene import read_eval_pair, read_triplet, scene_dirs

REPO = Path(__file__).resolve().parents[1]
ROOT = "./data/arkit_large_noise"
MATCH = ["--load_local_feature_field", "./log/train/model.pth", "--load_global_feature_field", "./log/train/model.pth",
         "--scene_buffer_size", "-1", "--num_vert_split", "1", "--local_rbf_smoothing", "0.5", "--eval_reps", "1",
         "--batch_size", "1", "--global_num_rot", "2", "--global_dist_valid_thres", "1.5", "--global_mapping_type",
         "scale_rot", "--global_topk", "4", "--seed", "10", "--local_valid_thres", "1.5", "--quiet"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The fixture tree after asset generation, sampling, triplets, augmentation and a few training steps."""
    root = tmp_path_factory.mktemp("arkit")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("WANDB_MODE", "disabled")
    try:
        write_tree(root, num_scans=8, seed=0, progress=False)
        main_asset_gen.main(["--quiet"])
        extract_point_samples.main(["--save_num_samples", "50", "100", "--mesh_num_samples", "400", "--quiet"])
        main_scene_gen.main(["--save_root", ROOT + "/", "--max_trans_noise", "0.5", "--max_rot_noise", "90", "--quiet"])
        main_scene_augment.main(["--orig_scene_root", ROOT + "/", "--quiet"])
        trainer.main(["--scene_root", ROOT, "--normalize_feats", "--log_dir", "./log/train", "--run_name", "t",
                      "--agg_radius", "0.75", "--num_cache_query", "50", "--query_point_type", "obj_match_points",
                      "--query_obj_match_add_bbox", "--steps", "2", "--num_workers", "0", "--val_scenes", "2",
                      "--transformer_num_layers", "1", "--transformer_feedforward", "32", "--agg_radius_limit", "16"])
        yield root
    finally:
        mp.undo()


def test_raw_scans_to_assets_triplets_and_a_17_class_field(tree):
    raw = tree / "data/arkit_scenes"
    assert len(list(raw.glob("train/*/*_3dod_mesh.ply"))) == 6 and len(list(raw.glob("test/*/*_3dod_annotation.json"))) == 2
    processed = tree / "data/arkit_scenes_processed"
    scans = {split: sorted(p.stem for p in (processed / "scenes" / split).glob("*.npz")) for split in ("train", "test")}
    assert scans == {split: sorted(p.name for p in (raw / split).iterdir()) for split in ("train", "test")}
    pool = ObjectPool.load_json(tree / ROOT / "object_pool.json")
    assert {m.class_name for m in pool.models} <= set(ARKIT.names) and "lamp" not in {m.class_name for m in pool.models}
    for m in pool.models:  # every asset's split is its scan's split
        assert (processed / "objects" / m.split / f"{m.model_id}.ply").is_file()
    sources = json.loads((tree / ROOT / "sources.json").read_text())
    assert sorted(sources) == [f"test_scene_{i}" for i in range(2)] + [f"train_scene_{i}" for i in range(6)]
    for d in scene_dirs(tree / ROOT):
        split = d.name.split("_")[0]
        assert sources[d.name] in scans[split]  # one triplet per scan, in its scan's split
        triplet = read_triplet(d / "scene.npz", classes=ARKIT)
        np.testing.assert_array_equal(triplet["pos"].class_ids, triplet["pair_pos"].class_ids)
        swapped = triplet["pair_pos"].model_ids != triplet["pos"].model_ids
        assert swapped.any() and all(pool[m].split == split for m in triplet["pair_pos"].model_ids)
        assert np.allclose(triplet["pos"].floor.points, triplet["neg"].floor.points)
    assert (tree / "data/arkit_point_samples/sample_100").is_dir()
    pair = read_eval_pair(tree / f"{ROOT}_augment/test_scene_0/scene.npz")
    assert (pair.idx_map >= 0).sum() >= 2 and (pair.idx_map == -1).any()
    field = load_field(tree / "log/train/model.pth")
    assert field.cfg.num_classes == len(ARKIT) == 17


@pytest.mark.parametrize("pair_type", ["identical", "augment", "manual"])
def test_matching_writes_metrics(tree, pair_type, monkeypatch, tmp_path):
    monkeypatch.chdir(tree)
    log = tmp_path / "log"
    extra = ["--scene_pair_file", str(REPO / "sample_scene_pairs/fixture_arkit.tsv"), "--vis_local_match_mode",
             "intra_match", "--vis_method", "screen"] if pair_type == "manual" else ["--query_point_type", "obj_match_points"]
    main_field_match.main(MATCH + ["--scene_root", ROOT, "--log_dir", str(log), "--scene_pair_type", pair_type] + extra)
    metrics = json.loads((log / "metrics.json").read_text())
    assert metrics["num_pairs"] == {"identical": 2, "augment": 2, "manual": 3}[pair_type]
    assert 0.0 <= metrics["pcp@0.25"] <= 1.0 and 0.0 <= metrics["chamfer_acc@0.15"] <= 1.0
    if pair_type == "identical":
        assert metrics["pcp@0.75"] == 1.0  # the reference is the target itself
    assert len(list(log.glob("pair_*.png"))) == (3 if pair_type == "manual" else 2)
