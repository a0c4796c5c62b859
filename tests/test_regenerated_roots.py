"""A synthetic root written again keeps nothing of the old set; RoIs follow their pair's own index."""

from __future__ import annotations

import shutil

from scene_analogy.data.eval_pairs import augment_protocol
from scene_analogy.evaluation.examples import augment_examples
from scene_analogy.structures.scene import scene_dirs
from scene_analogy.synthetic.__main__ import main


def _generate(root, num_scenes, seed, yaw="grid"):
    main(["--save_root", str(root), "--num_scenes", str(num_scenes), "--train_ratio", "0.5", "--save_num_samples",
          "50", "--seed", str(seed), "--global_yaw", yaw, "--quiet"])


def test_a_smaller_set_written_again_leaves_no_old_folder(tmp_path):
    root, aug = tmp_path / "syn", tmp_path / "syn_augment"
    _generate(root, 12, 0)
    assert len(scene_dirs(aug, "test")) == 6 and len(scene_dirs(root, "train")) == 6
    (root / "notes.txt").write_text("kept")
    _generate(root, 6, 1, "continuous")
    assert [d.name for d in scene_dirs(aug)] == [f"test_scene_{i}" for i in range(3)]
    assert [d.name for d in scene_dirs(root)] == [f"train_scene_{i}" for i in range(3)] + \
        [f"test_scene_{i}" for i in range(3)]
    assert augment_protocol(aug) == {"global_yaw": "continuous"} and (root / "notes.txt").is_file()


def test_a_pairs_roi_does_not_depend_on_a_missing_other_pair(tmp_path):
    root, aug = tmp_path / "syn", tmp_path / "syn_augment"
    _generate(root, 12, 0)
    before = {e.name: e.roi.tolist() for e in augment_examples(root)}
    shutil.rmtree(aug / "test_scene_2")
    after = {e.name: e.roi.tolist() for e in augment_examples(root)}
    assert "test_scene_2" not in after and len(after) == 5
    assert all(after[name] == before[name] for name in after)
