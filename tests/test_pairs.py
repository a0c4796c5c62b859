from pathlib import Path

import numpy as np
import pytest

from scene_analogy.evaluation.examples import manual_examples, read_pair_file
from scene_analogy.files.errors import DataError
from tests.helpers import write_tiny_triplet_root

SEED_PAIRS = Path(__file__).resolve().parents[1] / "sample_scene_pairs"


@pytest.mark.parametrize("name", ["td_front_sample.tsv", "td_front_eval_sample.tsv", "arkit_sample.tsv",
                                  "arkit_eval_sample.tsv"])
def test_authors_pair_files_parse(name):
    rows = read_pair_file(SEED_PAIRS / name)  # CRLF endings, some rows without ref_inst
    assert rows and all(r.tgt.startswith("test_scene_") for r in rows)
    assert all(r.ref_inst is None or len(r.ref_inst) == len(r.tgt_inst) for r in rows)


def test_rows_are_skipped_with_reasons_and_empty_files_fail(tmp_path, capsys):
    root = write_tiny_triplet_root(tmp_path / "scenes", num_train=0, num_test=2)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_bytes(b"tgt\tref\ttgt_inst\tref_inst\r\n"
                      b"test_scene_0\ttest_scene_1\t0,1\t1,0\r\n"
                      b"test_scene_0\ttest_scene_9\t0\t0\r\n"
                      b"test_scene_0\ttest_scene_1\t0,99\t1,0\r\n"
                      b"test_scene_1\ttest_scene_0\t2\t\r\n")
    examples = manual_examples(pairs, root)
    err = capsys.readouterr().err
    assert "line 3" in err and "test_scene_9" in err
    assert "line 4" in err and "tgt_inst 99 is out of range" in err
    assert [e.name for e in examples] == ["test_scene_0->test_scene_1", "test_scene_1->test_scene_0"]
    np.testing.assert_array_equal(examples[0].gt_objects, [1, 0])
    assert examples[1].gt_objects is None  # no analogy: the right answer is no map
    pairs.write_text("tgt\tref\ttgt_inst\tref_inst\ntest_scene_7\ttest_scene_8\t0\t0\n")
    with pytest.raises(DataError, match="no usable row"):
        manual_examples(pairs, root)
    pairs.write_text("a\tb\n")
    with pytest.raises(DataError, match="header"):
        read_pair_file(pairs)
