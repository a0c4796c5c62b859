"""The evaluation's pair sources (`evaluation.examples`): augment pairs in order with seeded RoIs,
manual TSV pairs and their errors, identical / random / hist_match pairs and their `analogy_known`."""

from __future__ import annotations

import numpy as np
import pytest

from scene_analogy.evaluation.examples import PairSource, augment_examples, load_examples, manual_examples
from scene_analogy.files.errors import DataError
from scene_analogy.structures.classes import THREED_FRONT
from scene_analogy.structures.scene import read_eval_pair, read_triplet, scene_dirs
from scene_analogy.synthetic.dataset import ensure_eval_pairs

HEADER = "tgt\tref\ttgt_inst\tref_inst\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("evalsources") / "synthetic"
    ensure_eval_pairs(path, 4, 0)
    return path


def _scene(root, folder: str, prefix: str):
    return read_triplet(root / folder / "scene.npz", (prefix,))[prefix]


def _rois(examples) -> list[list[int]]:
    return [ex.roi.tolist() for ex in examples]


def test_augment_pairs_come_in_folder_order_with_rois_fixed_per_seed(root):
    everything = augment_examples(root, seed=0)
    assert [ex.name for ex in everything] == [f"test_scene_{i}" for i in range(4)]
    for ex in everything:
        pair = read_eval_pair(root.parent / f"{root.name}_augment" / ex.name / "scene.npz")
        np.testing.assert_array_equal(ex.target.model_ids, pair.scene.model_ids)  # target: the augmented scene
        np.testing.assert_array_equal(ex.reference.model_ids, _scene(root, ex.name, "pos").model_ids)
        assert ex.analogy_known and 2 <= len(ex.roi) <= 3
    first = augment_examples(root, seed=0, limit=2)
    assert [ex.name for ex in first] == ["test_scene_0", "test_scene_1"]
    assert _rois(first) == _rois(everything[:2])  # a pair's RoI does not depend on the others used
    assert _rois(augment_examples(root, seed=0)) == _rois(everything)  # reproducible
    by_seed = [_rois(augment_examples(root, seed=s)) for s in range(6)]
    assert len({str(r) for r in by_seed}) > 1  # the seed does choose the RoIs
    source = load_examples(PairSource("augment", str(root), buffer_size=2), seed=0)
    assert [ex.name for ex in source] == ["test_scene_0", "test_scene_1"] and _rois(source) == _rois(first)


def test_roi_objects_fixes_the_rois_size_from_the_same_first_object(root):
    default = augment_examples(root, seed=0)
    for size in (1, 2):
        sized = augment_examples(root, seed=0, roi_objects=size)
        for ex, base in zip(sized, default):
            assert len(ex.roi) == size and ex.roi[0] == base.roi[0]  # the drawn object, then its nearest
            assert ex.roi.tolist() == base.roi[:size].tolist()
            np.testing.assert_array_equal(ex.gt_objects, base.gt_objects[:size])
    with pytest.raises(DataError, match="roi_objects"):
        augment_examples(root, seed=0, roi_objects=0)


def test_augment_pairs_missing_is_a_data_error(tmp_path):
    (tmp_path / "scenes" / "test_scene_0").mkdir(parents=True)
    (tmp_path / "scenes_augment").mkdir()
    with pytest.raises(DataError, match="no evaluation pairs"):
        augment_examples(tmp_path / "scenes")


def test_manual_rows_become_examples(root, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(HEADER + "test_scene_0\ttest_scene_2\t1,0\t2,3\n\n" + "test_scene_3\ttest_scene_1\t2\t\n")
    first, second = manual_examples(pairs, root)
    assert (first.name, second.name) == ("test_scene_0->test_scene_2", "test_scene_3->test_scene_1")
    np.testing.assert_array_equal(first.target.model_ids, _scene(root, "test_scene_0", "pair_pos").model_ids)
    np.testing.assert_array_equal(first.reference.model_ids, _scene(root, "test_scene_2", "pos").model_ids)
    assert first.roi.tolist() == [1, 0] and first.gt_objects.tolist() == [2, 3] and first.analogy_known
    # an empty ref_inst: a known absence of analogy (right answer "no map"), not an unknown one
    assert second.roi.tolist() == [2] and second.gt_objects is None and second.analogy_known
    arkit_style = manual_examples(pairs, root, target_prefix="pos")[0]
    np.testing.assert_array_equal(arkit_style.target.model_ids, _scene(root, "test_scene_0", "pos").model_ids)
    source = load_examples(PairSource("manual", str(root), pair_file=str(pairs)), seed=5)
    assert [ex.name for ex in source] == [first.name, second.name]


@pytest.mark.parametrize("rows, problem", [
    ("test_scene_0\ttest_scene_1\t0,x\t1,0\n", "line 2: instance lists must be comma-separated integers"),
    ("test_scene_0\ttest_scene_1\t0\t1\ntest_scene_0\ttest_scene_1\t0,1\t1\n", "line 3: 2 tgt_inst but 1 ref_inst"),
    ("test_scene_0\ttest_scene_1\t\t1\n", "line 2: needs a tgt folder, a ref folder and at least one tgt_inst"),
    ("\ttest_scene_1\t0\t1\n", "line 2: needs a tgt folder"),
    ("test_scene_0\ttest_scene_1\t0;1\t\n", "line 2: instance lists"),
    # fewer than three cells (spaces for tabs, a lone folder) was an IndexError traceback
    ("test_scene_0\ttest_scene_1\t0\t1\ntest_scene_0 test_scene_1 0 1\n", "line 3: needs a tgt folder"),
    ("test_scene_0\n", "line 2: needs a tgt folder"),
    ("test_scene_0\ttest_scene_1\n", "line 2: needs a tgt folder"),
])
def test_bad_manual_rows_are_data_errors_naming_file_and_line(root, tmp_path, rows, problem):
    pairs = tmp_path / "bad pairs.tsv"
    pairs.write_text(HEADER + rows)
    with pytest.raises(DataError) as caught:
        manual_examples(pairs, root)
    assert caught.value.path == str(pairs) and str(pairs) in str(caught.value)
    assert problem in caught.value.problem


def test_manual_source_needs_its_file(root, tmp_path):
    with pytest.raises(DataError, match="--scene_pair_file"):
        PairSource("manual", str(root))
    with pytest.raises(DataError, match="pair file not found") as caught:
        manual_examples(tmp_path / "absent.tsv", root)
    assert caught.value.path == str(tmp_path / "absent.tsv")
    with pytest.raises(ValueError, match="pair_type"):
        PairSource("augmented", str(root))


def test_identical_pairs_know_their_analogy(root):
    examples = load_examples(PairSource("identical", str(root)), seed=3)
    assert [ex.name for ex in examples] == [d.name for d in scene_dirs(root, "test")]
    for ex in examples:
        assert ex.target is ex.reference and ex.analogy_known
        np.testing.assert_array_equal(ex.gt_objects, ex.roi)
        assert 2 <= len(ex.roi) <= 3 and len(set(ex.roi.tolist())) == len(ex.roi)
    assert _rois(load_examples(PairSource("identical", str(root)), seed=3)) == _rois(examples)
    first_two = load_examples(PairSource("identical", str(root), buffer_size=2), seed=3)
    assert _rois(first_two) == _rois(examples[:2])


def _folders(name: str) -> tuple[str, str]:
    tgt, ref = name.split("->")
    return tgt, ref


def test_random_and_hist_match_pairs_have_no_ground_truth(root):
    names = [d.name for d in scene_dirs(root, "test")]
    positives = [_scene(root, n, "pos") for n in names]
    hist = np.stack([np.bincount(s.class_ids, minlength=len(THREED_FRONT)) / len(s) for s in positives])
    for pair_type in ("random", "hist_match"):
        examples = load_examples(PairSource(pair_type, str(root)), seed=1)
        assert len(examples) == len(names)
        for i, ex in enumerate(examples):
            tgt, ref = _folders(ex.name)
            assert tgt == names[i] and ref != tgt and ref in names
            assert ex.gt_objects is None and not ex.analogy_known
            np.testing.assert_array_equal(ex.target.model_ids, _scene(root, tgt, "pair_pos").model_ids)
            np.testing.assert_array_equal(ex.reference.model_ids, _scene(root, ref, "pos").model_ids)
            assert 2 <= len(ex.roi) <= 3 and ex.roi.max() < len(ex.target)
            if pair_type == "hist_match":
                dist = np.abs(hist - hist[i]).sum(1)
                dist[i] = np.inf
                assert ref == names[int(np.argmin(dist))]
    with pytest.raises(DataError, match="at least two scene folders"):
        load_examples(PairSource("random", str(root), buffer_size=1), seed=0)
