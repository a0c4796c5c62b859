"""End to end: `python -m scene_analogy.synthetic` writes the whole shared layout, reproducibly."""

import subprocess
import sys

import numpy as np
import pytest

from scene_analogy.structures.classes import THREED_FRONT
from scene_analogy.structures.pool import ObjectPool
from scene_analogy.structures.samples import PointSamples
from scene_analogy.structures.scene import read_eval_pair, read_triplet, scene_dirs
from scene_analogy.synthetic.dataset import SyntheticConfig, generate_dataset


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "scenes"
    cmd = [sys.executable, "-m", "scene_analogy.synthetic", "--save_root", str(root), "--num_scenes", "20",
           "--seed", "3", "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return root


def test_layout_is_complete(generated):
    root = generated
    pool = ObjectPool.load_json(root / "object_pool.json")
    assert len(scene_dirs(root, "train")) == 18 and len(scene_dirs(root, "test")) == 2
    samples = PointSamples(root / "point_samples", 50)
    for d in scene_dirs(root):
        split = d.name.split("_")[0]
        triplet = read_triplet(d / "scene.npz", classes=THREED_FRONT)
        for scene in triplet.values():
            assert 4 <= len(scene) <= 15
            assert all(pool[m].split == split for m in scene.model_ids)  # train and test models stay apart
            assert samples.stack(scene.model_ids).shape == (len(scene), 50, 3)
    assert (root / "triplet_topdown.png").stat().st_size > 10_000
    assert not list(root.parent.rglob("*.tmp*"))


def test_eval_pairs_link_back_to_their_source(generated):
    root = generated
    aug = root.parent / "scenes_augment"
    for d in scene_dirs(root, "test"):
        pair = read_eval_pair(aug / d.name / "scene.npz", classes=THREED_FRONT)
        positive = read_triplet(d / "scene.npz", ("pair_pos",))["pair_pos"]
        kept = pair.idx_map >= 0
        assert kept.sum() >= 2 and (~kept).sum() >= 1
        np.testing.assert_array_equal(pair.scene.model_ids[kept], positive.model_ids[pair.idx_map[kept]])


def test_generation_is_reproducible(tmp_path):
    cfg = SyntheticConfig(num_scenes=4, seed=5, sample_counts=(50,))
    a = generate_dataset(tmp_path / "a", cfg, progress=False)
    b = generate_dataset(tmp_path / "b", cfg, progress=False)
    assert a == b
    for d in scene_dirs(tmp_path / "a"):
        with np.load(d / "scene.npz") as x, np.load(tmp_path / "b" / d.name / "scene.npz") as y:
            assert x.files == y.files
            for k in x.files:
                np.testing.assert_array_equal(x[k], y[k], err_msg=k)
    one = next((tmp_path / "a" / "point_samples" / "sample_50").glob("*.npy"))
    np.testing.assert_array_equal(np.load(one), np.load(tmp_path / "b" / "point_samples" / "sample_50" / one.name))


def test_our_synthetic_pair_file_fits_a_synthetic_root(generated):
    from pathlib import Path

    from scene_analogy.evaluation.examples import manual_examples

    pairs = Path(__file__).resolve().parents[1] / "sample_scene_pairs" / "synthetic_sample.tsv"
    examples = manual_examples(pairs, generated)
    assert len(examples) == 3 and all(len(e.roi) == len(e.gt_objects) for e in examples)


def test_design_split_reaches_the_written_pool_and_scenes(tmp_path):
    """`--split_by design`: object_pool.json holds the design split, and test rooms use only its models."""
    from scene_analogy.synthetic.__main__ import main
    from scene_analogy.synthetic.objects import build_pool

    root = tmp_path / "designs"
    main(["--save_root", str(root), "--num_scenes", "6", "--seed", "5", "--train_ratio", "0.5",
          "--save_num_samples", "50", "--no_augment", "--split_by", "design", "--quiet"])
    pool = ObjectPool.load_json(root / "object_pool.json")
    assert [m.split for m in pool.models] == [m.split for m in build_pool(5, split_by="design").models]
    assert [m.split for m in pool.models] != [m.split for m in build_pool(5).models]
    for d in scene_dirs(root, "test"):
        for scene in read_triplet(d / "scene.npz", classes=THREED_FRONT).values():
            assert all(pool[m].split == "test" for m in scene.model_ids)
