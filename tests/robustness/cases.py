"""The bad-input table: one row per case, run by `test_bad_inputs.py` as a real `python -m` command.

A row says which module runs with which flags (`argv(ws, d)`, run with the case folder `d` as the
working directory), how the bad input is made (`make(ws, d)`, writing under `d` only), and what must
come out:
- expect "error": a non-zero exit and exactly one stderr line `error: ...` containing `file` (the
  path as the user gave it) and matching `problem`; none of `outputs` left behind;
- expect "skip": the item is optional, so the command succeeds with a counted warning
  `warning: skipped N ...` matching `problem` (and `file`), and every path of `outputs` exists.
Always: no "Traceback", no temporary file anywhere under `d`, and no file `d/PWNED` (what the
malicious pickles would create if they ever ran).

Adding a dataset package is a matter of adding rows (the `arkit.*` rows are in `cases_arkit.py`); the
`make` helpers and the commands' flags are in `damage.py`.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .cases_arkit import ARKIT_CASES
from .damage import (
    AUG0,
    TEST0,
    TRAIN0,
    Case,
    Malicious,
    analogy,
    augment,
    broken_model,
    demo,
    disagreeing_sidecar,
    edit_npz,
    empty,
    house_edit,
    keep_one_piece,
    malicious_torch,
    manual,
    marker,
    match,
    nan_weight_checkpoint,
    model_info_edit,
    nan_position,
    other_config_checkpoint,
    own_npz,
    pair_file,
    sample,
    scene_gen,
    scenes_copy,
    train,
    truncate,
    zero_scale,
)
from .workspace import OWN_PAIR, copy_tree, npz_arrays

CASES: list[Case] = [
    # ---- scene_analogy.demo -------------------------------------------------------------------------------
    Case("demo-malicious-checkpoint", "scene_analogy.demo", lambda ws, d: demo(ws, "evil.pth"),
         make=lambda ws, d: malicious_torch(d / "evil.pth", d), file="evil.pth",
         problem="not a descriptor-field checkpoint.*'posix.mkdir'.*nothing was run"),
    Case("demo-checkpoint-of-other-config", "scene_analogy.demo", lambda ws, d: demo(ws, "ckpt"),
         make=other_config_checkpoint, file="ckpt/model.pth", problem="key 'feat_transformer.layers.1.* is missing"),
    Case("demo-truncated-eval-pair", "scene_analogy.demo", lambda ws, d: demo(ws, None, "scenes"),
         make=lambda ws, d: truncate(scenes_copy(ws, d).parent / AUG0, d / AUG0),
         file=AUG0, problem="not a readable .npz file"),
    Case("demo-abs-path-with-spaces", "scene_analogy.demo", lambda ws, d: demo(ws, d / "my models" / "model.pth"),
         make=lambda ws, d: (d / "my models").mkdir() or (d / "my models" / "model.pth").write_bytes(b"\x00garbage" * 9),
         file="my models/model.pth", problem="not a descriptor-field checkpoint \\(not a PyTorch file"),
    Case("demo-checkpoint-with-nan-weights", "scene_analogy.demo", lambda ws, d: demo(ws, "ckpt"),
         make=nan_weight_checkpoint, file="ckpt/model.pth", problem="key 'final_lin.weight' holds NaN or inf"),
    Case("demo-checkpoint-of-another-class-table", "scene_analogy.demo",
         lambda ws, d: demo(ws, ws.arkit / "checkpoint"), file="checkpoint/model.pth",
         problem="trained on 17 classes, but this data has 8"),
    Case("demo-users-root-with-too-few-pairs", "scene_analogy.demo",
         lambda ws, d: demo(ws, None, "scenes") + ["--num_pairs", "50"], make=scenes_copy, file="scenes",
         problem="fewer than the 50 asked for; the demo did not make it, so it is not overwritten"),

    # ---- scene_analogy.analogy (own data) ----------------------------------------------------------------
    Case("own-out-is-a-file", "scene_analogy.analogy", lambda ws, d: analogy(OWN_PAIR / "target.ply"),
         make=lambda ws, d: (d / "out").write_text("notes"), file="out", problem="is a file; --out names the folder",
         outputs=()),
    Case("own-transfer-two-files-one-name", "scene_analogy.analogy",
         lambda ws, d: analogy(OWN_PAIR / "target.ply", None, "--transfer", "a/path.csv", "b/path.csv"),
         make=lambda ws, d: [(d / x).mkdir() or (d / x / "path.csv").write_text("x,y,z\n1,2,3\n") for x in "ab"],
         file="b/path.csv", problem="both would be written to transferred_path.csv"),
    Case("own-missing-target", "scene_analogy.analogy", lambda ws, d: analogy("scans/none.ply"),
         file="scans/none.ply", problem="no such file"),
    Case("own-truncated-ply", "scene_analogy.analogy", lambda ws, d: analogy("t.ply"),
         make=lambda ws, d: truncate(OWN_PAIR / "target.ply", d / "t.ply", 0.6), file="t.ply",
         problem="(truncated|fewer|short|ends)"),
    Case("own-points-wrong-shape", "scene_analogy.analogy", lambda ws, d: analogy("t.npz"),
         make=lambda ws, d: own_npz(d, "t.npz", points=lambda p: p[:, :2]), file="t.npz", problem=r"shape \(P, 3\)"),
    Case("own-points-wrong-dtype", "scene_analogy.analogy", lambda ws, d: analogy("t.npz"),
         make=lambda ws, d: own_npz(d, "t.npz", points=lambda p: p.astype(str)), file="t.npz",
         problem="(dtype|numbers|float)"),
    Case("own-nan-inf-coordinates", "scene_analogy.analogy", lambda ws, d: analogy("t.npz"),
         make=lambda ws, d: own_npz(d, "t.npz", points=lambda p: np.where(np.arange(len(p))[:, None] == 5, np.nan, np.where(
             np.arange(len(p))[:, None] == 9, np.inf, p))),
         file="t.npz", problem="NaN or inf"),
    Case("own-roi-id-out-of-range", "scene_analogy.analogy",
         lambda ws, d: ["--tgt", str(OWN_PAIR / "target.ply"), "--ref", str(OWN_PAIR / "reference.ply"),
                        "--roi_ids", "7", "999", "--out", "out"], file="target.ply", problem="999"),
    Case("own-unknown-class", "scene_analogy.analogy", lambda ws, d: analogy("t.npz"),
         make=lambda ws, d: own_npz(d, "t.npz", label=lambda lab: np.where(lab == lab[0], "spaceship", lab.astype(str))),
         file="t.npz", problem="'spaceship' is not a class"),
    Case("own-duplicated-points-roi-object", "scene_analogy.analogy", lambda ws, d: analogy("t.npz"),
         make=lambda ws, d: own_npz(d, "t.npz", points=lambda p: _collapse_instance(d, p, 7)),
         file="t.npz", problem="instance 7.*(single point|zero size|duplicate)"),
    Case("own-malicious-npz", "scene_analogy.analogy", lambda ws, d: analogy("t.npz"),
         make=lambda ws, d: own_npz(d, "t.npz", label=np.array([Malicious(marker(d))], dtype=object)),
         file="t.npz", problem="pickled object"),
    Case("own-transfer-csv-bad-row-crlf", "scene_analogy.analogy",
         lambda ws, d: analogy(OWN_PAIR / "target.ply", None, "--transfer", "path.csv"),
         make=lambda ws, d: (d / "path.csv").write_bytes(b"x,y,z\r\n1,2,3\r\n4,five,6\r\n"),
         file="path.csv", problem="not a row of numbers"),
    Case("own-rel-path-with-spaces", "scene_analogy.analogy", lambda ws, d: analogy("my scans/t.npz"),
         make=lambda ws, d: own_npz(d / "my scans", "t.npz", instance=lambda i: i.astype(np.float64) + 0.5),
         file="my scans/t.npz", problem="instance ids must be integers"),

    # ---- scene_analogy.train ----------------------------------------------------------------------------
    Case("train-truncated-scene", "scene_analogy.train", lambda ws, d: train("scenes"),
         make=lambda ws, d: truncate(scenes_copy(ws, d).parent / TRAIN0, d / TRAIN0), file=TRAIN0,
         problem="not a readable .npz file"),
    Case("train-missing-point-sample", "scene_analogy.train", lambda ws, d: train("scenes"),
         make=lambda ws, d: [p.unlink() for p in (scenes_copy(ws, d) / "point_samples" / "sample_50").glob("m3_*.npy")],
         file="sample_50/m3_", problem="(no such|not found|missing)"),
    Case("train-malicious-start-checkpoint", "scene_analogy.train",
         lambda ws, d: train(ws.scenes, "--load_feature_field", "evil.pth"),
         make=lambda ws, d: malicious_torch(d / "evil.pth", d), file="evil.pth", problem="not a descriptor-field checkpoint"),

    # ---- scene_analogy.convert_checkpoint ------------------------------------------------------------------
    Case("convert-malicious-reduce", "scene_analogy.convert_checkpoint", lambda ws, d: ["evil.pth", "out/model.pth"],
         make=lambda ws, d: (d / "evil.pth").write_bytes(pickle.dumps({"model": Malicious(marker(d))})),
         file="evil.pth", problem="refused to unpickle global 'posix.mkdir'"),
    Case("convert-empty-file", "scene_analogy.convert_checkpoint", lambda ws, d: ["model.pth", "out"],
         make=lambda ws, d: empty(d / "model.pth"), file="model.pth", problem="not a readable PyTorch file"),
    Case("convert-our-own-checkpoint", "scene_analogy.convert_checkpoint",
         lambda ws, d: [str(ws.checkpoint / "model.pth"), "out"], file="model.pth",
         problem="expected a pickled KeyPointFeatureField module, found dict"),

    # ---- scene_analogy.synthetic / scene_analogy.fixtures -------------------------------------------------
    Case("synthetic-save-root-is-a-file", "scene_analogy.synthetic",
         lambda ws, d: ["--save_root", "taken", "--num_scenes", "2", "--quiet"],
         make=lambda ws, d: (d / "taken").write_text("x"), file="taken", problem="(?i)(exists|not a directory)",
         outputs=("taken_augment",)),
    Case("fixtures-zero-houses", "scene_analogy.fixtures", lambda ws, d: ["threed_front", "--out", "out", "--num_houses", "0"],
         file="--num_houses", problem="must be >= 1"),
    Case("fixtures-too-few-scans", "scene_analogy.fixtures", lambda ws, d: ["arkit", "--out", "out", "--num_scans", "3"],
         file="--num_scans", problem="must be >= 6"),
    Case("fixtures-out-is-a-file", "scene_analogy.fixtures",
         lambda ws, d: ["threed_front", "--out", "taken", "--num_houses", "1"],
         make=lambda ws, d: (d / "taken").write_text("x"), file="taken", problem="(?i)(exists|not a directory)", outputs=()),

    # ---- threed_front.extract_point_samples -----------------------------------------------------------------
    Case("tdf-sample-missing-obj-root", "threed_front.extract_point_samples", lambda ws, d: sample("models"),
         file="models", problem="model folder not found"),
    Case("tdf-sample-empty-obj", "threed_front.extract_point_samples", lambda ws, d: sample("models"),
         make=lambda ws, d: broken_model(ws, d, ""), expect="skip", file="broken", problem="models? ",
         outputs=("out/sample_20",)),
    Case("tdf-sample-truncated-obj", "threed_front.extract_point_samples", lambda ws, d: sample("models"),
         make=lambda ws, d: broken_model(ws, d, "v 0 0 0\nv 1 0 0\nf 1 2 3\n"), expect="skip", file="broken",
         problem="models? ", outputs=("out/sample_20",)),
    Case("tdf-sample-zero-area-mesh", "threed_front.extract_point_samples", lambda ws, d: sample("models"),
         make=lambda ws, d: broken_model(ws, d, "v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n"), expect="skip",
         file="broken", problem="models? ", outputs=("out/sample_20",)),
    Case("tdf-sample-all-broken", "threed_front.extract_point_samples", lambda ws, d: sample("models"),
         make=lambda ws, d: broken_model(ws, d, "", count=0), file="models", problem="no model"),

    # ---- threed_front.main_scene_gen ----------------------------------------------------------------------
    Case("tdf-gen-missing-model-info", "threed_front.main_scene_gen",
         lambda ws, d: scene_gen(ws, model_info="info/model_info.json"), file="info/model_info.json",
         problem="model_info.json not found"),
    Case("tdf-gen-truncated-model-info", "threed_front.main_scene_gen",
         lambda ws, d: scene_gen(ws, model_info="model_info.json"),
         make=lambda ws, d: truncate(ws.models / "model_info.json", d / "model_info.json"), file="model_info.json",
         problem="not a readable JSON file"),
    Case("tdf-gen-unknown-class", "threed_front.main_scene_gen", lambda ws, d: scene_gen(ws, model_info="model_info.json"),
         make=lambda ws, d: model_info_edit(ws, d, lambda rows: rows[0].update({"super-category": "Spaceship"})),
         expect="skip", file="model_info.json", problem=r"models \(unknown super-category\)", outputs=("out/train_scene_0",)),
    Case("tdf-gen-truncated-house", "threed_front.main_scene_gen", lambda ws, d: scene_gen(ws, houses="houses"),
         make=lambda ws, d: truncate(sorted(copy_tree(ws.houses, d / "houses").glob("*.json"))[0],
                                     sorted((d / "houses").glob("*.json"))[0]),
         expect="skip", file="houses/", problem=r"houses \(malformed house JSON\)", outputs=("out/train_scene_0",)),
    Case("tdf-gen-one-object-room", "threed_front.main_scene_gen", lambda ws, d: scene_gen(ws, houses="houses"),
         make=lambda ws, d: house_edit(ws, d, keep_one_piece), expect="skip", file="houses/",
         problem=r"rooms \(only one usable furniture piece\)", outputs=("out/train_scene_0",)),
    Case("tdf-gen-zero-size-box", "threed_front.main_scene_gen", lambda ws, d: scene_gen(ws, houses="houses"),
         make=lambda ws, d: house_edit(ws, d, zero_scale), expect="skip", file="houses/",
         problem=r"rooms \(a furniture scale outside", outputs=("out/train_scene_0",)),
    Case("tdf-gen-nan-position", "threed_front.main_scene_gen", lambda ws, d: scene_gen(ws, houses="houses"),
         make=lambda ws, d: house_edit(ws, d, nan_position), expect="skip", file="houses/",
         problem=r"rooms \(malformed room entry\)", outputs=("out/train_scene_0",)),
    # ---- threed_front.main_scene_augment ------------------------------------------------------------------
    Case("tdf-augment-truncated-scene", "threed_front.main_scene_augment", lambda ws, d: augment("scenes"),
         make=lambda ws, d: truncate(scenes_copy(ws, d).parent / TEST0, d / TEST0), file=TEST0,
         problem="not a readable .npz file"),
    Case("tdf-augment-wrong-rotation-shape", "threed_front.main_scene_augment", lambda ws, d: augment("scenes"),
         make=lambda ws, d: edit_npz(scenes_copy(ws, d).parent / TEST0, pair_pos_rot=lambda r: r[:, 0]),
         file=TEST0, problem=r"'pair_pos_rot' has shape \(\d+, 3\); expected \(\d+, 3, 3\)"),
    Case("tdf-augment-malicious-array", "threed_front.main_scene_augment", lambda ws, d: augment("scenes"),
         make=lambda ws, d: edit_npz(scenes_copy(ws, d).parent / TEST0,
                                     pair_pos_obj_id=np.array([Malicious(marker(d))], dtype=object)),
         file=TEST0, problem="cannot be read without pickle"),
    Case("tdf-augment-empty-scene", "threed_front.main_scene_augment", lambda ws, d: augment("scenes"),
         make=lambda ws, d: edit_npz(scenes_copy(ws, d).parent / TEST0, **_emptied("pair_pos", d / TEST0)),
         file=TEST0, problem="no objects"),

    # ---- threed_front.trainer ----------------------------------------------------------------------------
    Case("tdf-trainer-resume-other-config", "threed_front.trainer", lambda ws, d: train(ws.scenes),
         make=lambda ws, d: _foreign_train_state(d / "out" / "train_state.pth"), file="out/train_state.pth",
         problem="cannot resume: the training state is of another field configuration .*unexpected key",
         outputs=("out/model.pth", "out/summary.json")),
    Case("tdf-trainer-malicious-train-state", "threed_front.trainer", lambda ws, d: train(ws.scenes),
         make=lambda ws, d: malicious_torch(d / "out" / "train_state.pth", d), file="out/train_state.pth",
         problem="cannot resume from this training state", outputs=("out/model.pth", "out/summary.json")),

    # ---- threed_front.main_field_match ------------------------------------------------------------------
    Case("tdf-match-missing-pair-file", "threed_front.main_field_match", lambda ws, d: manual(ws, "pairs/none.tsv"),
         file="pairs/none.tsv", problem="pair file not found"),
    Case("tdf-match-pair-file-bad-row", "threed_front.main_field_match", lambda ws, d: manual(ws, "pairs.tsv"),
         make=lambda ws, d: pair_file(d, ["test_scene_0\ttest_scene_1\t0,x\t"]), file="pairs.tsv",
         problem="line 2: instance lists must be comma-separated integers"),
    Case("tdf-match-pair-file-crlf-roi-out-of-range", "threed_front.main_field_match",
         lambda ws, d: manual(ws, "pairs.tsv"),
         make=lambda ws, d: pair_file(d, ["test_scene_0\ttest_scene_1\t0,99\t", "test_scene_0\ttest_scene_1\t0,1\t"],
                                      newline="\r\n"),
         expect="skip", file="pairs.tsv", problem=r"pair rows \(tgt_inst out of range\)",
         outputs=("out/metrics.json",)),
    Case("tdf-match-checkpoint-of-other-config", "threed_front.main_field_match",
         lambda ws, d: match(ws, checkpoint="ckpt"), make=disagreeing_sidecar, file="ckpt/config.json",
         problem="disagrees with model.pth"),
    Case("tdf-match-pickled-idx-map", "threed_front.main_field_match", lambda ws, d: match(ws, "scenes"),
         make=lambda ws, d: edit_npz(scenes_copy(ws, d).parent / AUG0,
                                     pair_pos_idx_map=lambda m: np.array(dict(enumerate(m.tolist())), dtype=object)),
         file=AUG0, problem="pass --allow_pickle"),
    Case("tdf-match-unknown-class-id", "threed_front.main_field_match", lambda ws, d: match(ws, "scenes"),
         make=lambda ws, d: edit_npz(scenes_copy(ws, d).parent / AUG0, pair_pos_obj_classes=lambda c: c * 0 + 12),
         file=AUG0, problem="unknown class id 12"),
    Case("tdf-match-idx-map-out-of-range", "threed_front.main_field_match", lambda ws, d: match(ws, "scenes"),
         make=lambda ws, d: edit_npz(scenes_copy(ws, d).parent / AUG0, pair_pos_idx_map=lambda m: m * 0 + 999),
         file=AUG0, problem="'pair_pos_idx_map'.*(out of range|999)"),
    Case("tdf-match-zero-size-boxes", "threed_front.main_field_match",
         lambda ws, d: match(ws, "scenes", "--scene_pair_type", "identical"),
         make=lambda ws, d: edit_npz(scenes_copy(ws, d) / TEST0.split("/", 1)[1], pos_bboxes=lambda b: b * 0),
         file=TEST0, problem="'pos_bboxes'.*(zero|positive)"),
    Case("tdf-match-duplicated-samples", "threed_front.main_field_match", lambda ws, d: match(ws, "scenes"),
         make=lambda ws, d: [np.save(p, np.zeros((50, 3), np.float32))
                             for p in (scenes_copy(ws, d) / "point_samples" / "sample_50").glob("*.npy")],
         file="sample_50/", problem="same point"),
    Case("tdf-match-rel-scene-root-with-spaces", "threed_front.main_field_match", lambda ws, d: match(ws, "my scenes/root"),
         file="my scenes/root", problem="(not found|no )"),
]


def _collapse_instance(d: Path, points: np.ndarray, instance: int) -> np.ndarray:
    from scene_analogy.user_scenes.formats import load_scene

    ids = load_scene(OWN_PAIR / "target.ply").instance
    out = points.copy()
    out[ids == instance] = out[ids == instance][0]
    return out


def _emptied(prefix: str, path: Path) -> dict:
    """Changes that leave the `prefix` scene of an npz with no objects."""
    arrays = npz_arrays(path)
    return {k: (lambda a: a[:0]) for k in arrays if k.startswith(prefix + "_") and not k.startswith(prefix + "_fp_")
            and k not in (f"{prefix}_global_rot",)}


def _foreign_train_state(path: Path) -> None:
    """A training state saved by a run with another configuration (a 2-layer field)."""
    import dataclasses

    import torch

    from scene_analogy.field.model import PRESETS

    field = dataclasses.replace(PRESETS["fast"], num_layers=2, feedforward=32, max_neighbors=16).build()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": field.state_dict(), "optimizer": {}, "scheduler": {}, "step": 1}, path)


def by_name() -> dict[str, Case]:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    return {c.name: c for c in CASES}


CASES += ARKIT_CASES
