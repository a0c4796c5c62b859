"""The bad-input rows of the `arkit.*` entry modules (appended to `cases.CASES`; see that module for
what a row means). Raw-scan cases run the asset generator on a small scan root of their own: links
to two good scans of the workspace's fixture tree and one copied scan that the row damages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from .damage import TINY_TRAIN, Case, edit_npz, pair_file, truncate
from .workspace import Workspace, copy_tree

BROKEN = "40000000"  # the train scan a raw-scan row damages
MESH = f"scans/train/{BROKEN}/{BROKEN}_3dod_mesh.ply"
ANNOTATION = f"scans/train/{BROKEN}/{BROKEN}_3dod_annotation.json"


def scan_root(ws: Workspace, d: Path, name: str = "scans", others: bool = True) -> Path:
    """`d/<name>/` with train/<BROKEN> copied and (with `others`) one more train and one test scan
    linked; returns the copy."""
    raw = ws.arkit_raw
    for split, video_id in (("train", "40000001"), ("test", "40000004")) if others else ():
        (d / name / split).mkdir(parents=True, exist_ok=True)
        (d / name / split / video_id).symlink_to(raw / split / video_id, target_is_directory=True)
    return copy_tree(raw / "train" / BROKEN, d / name / "train" / BROKEN)


def annotation_edit(edit: Callable[[list], None], name: str = "scans", others: bool = True) -> Callable:
    """A row's `make`: the copied scan's annotation entries changed by `edit`."""
    def make(ws: Workspace, d: Path) -> None:
        path = scan_root(ws, d, name, others) / f"{BROKEN}_3dod_annotation.json"
        annotation = json.loads(path.read_text())
        edit(annotation["data"])
        path.write_text(json.dumps(annotation))
    return make


def first_box(key: str, value) -> Callable[[list], None]:
    return lambda data: data[0]["segments"]["obbAligned"].update({key: value})


def mesh_without_faces(ws: Workspace, d: Path) -> None:
    from scene_analogy.files.ply import read_ply_mesh, write_ply

    path = scan_root(ws, d) / f"{BROKEN}_3dod_mesh.ply"
    columns, _ = read_ply_mesh(path)
    write_ply(path, columns)


def scan_scenes_copy(ws: Workspace, d: Path) -> Path:
    """`d/processed/scenes` copied from the workspace (objects stay there); returns the first train scene."""
    copy_tree(ws.arkit / "processed" / "scenes", d / "processed" / "scenes")
    return sorted((d / "processed" / "scenes" / "train").glob("*.npz"))[0]


def asset_gen(scene_root: str = "scans") -> list:
    return ["--scene_root", scene_root, "--save_root", "out", "--quiet"]


def scene_gen(ws: Workspace, scene_root: str) -> list:
    return ["--scene_root", scene_root, "--obj_root", str(ws.arkit / "processed" / "objects"), "--point_sample_root",
            str(ws.arkit / "samples"), "--save_root", "out", "--quiet"]


def arkit_match(ws: Workspace, *extra, checkpoint=None) -> list:
    return ["--scene_root", str(ws.arkit / "triplets"), "--point_sample_root", str(ws.arkit / "samples"),
            "--load_local_feature_field", str(checkpoint or ws.arkit / "checkpoint"), "--log_dir", "out",
            "--global_num_rot", "2", "--global_topk", "4", "--num_vis", "0", "--quiet", *extra]


ASSETS = "out/objects/model_info.json"  # what a successful asset generation always writes

ARKIT_CASES: list[Case] = [
    # ---- arkit.main_asset_gen -----------------------------------------------------------------------------
    Case("arkit-assets-mesh-without-faces", "arkit.main_asset_gen", lambda ws, d: asset_gen(),
         make=mesh_without_faces, expect="skip", file=MESH, problem=r"scans \(unreadable mesh\).*no faces",
         outputs=(ASSETS,)),
    Case("arkit-assets-truncated-mesh", "arkit.main_asset_gen", lambda ws, d: asset_gen(),
         make=lambda ws, d: truncate(scan_root(ws, d) / f"{BROKEN}_3dod_mesh.ply", d / MESH, 0.4),
         expect="skip", file=MESH, problem=r"scans \(unreadable mesh\)", outputs=(ASSETS,)),
    Case("arkit-assets-missing-annotation", "arkit.main_asset_gen", lambda ws, d: asset_gen(),
         make=lambda ws, d: (scan_root(ws, d) / f"{BROKEN}_3dod_annotation.json").unlink(), expect="skip",
         file=ANNOTATION, problem=r"scans \(missing mesh or annotation file\)", outputs=(ASSETS,)),
    Case("arkit-assets-invalid-json", "arkit.main_asset_gen", lambda ws, d: asset_gen(),
         make=lambda ws, d: truncate(scan_root(ws, d) / f"{BROKEN}_3dod_annotation.json", d / ANNOTATION),
         expect="skip", file=ANNOTATION, problem=r"scans \(malformed annotation JSON\)", outputs=(ASSETS,)),
    Case("arkit-assets-nan-box", "arkit.main_asset_gen", lambda ws, d: asset_gen(),
         make=annotation_edit(first_box("centroid", [float("nan"), 0.0, 0.0])), expect="skip", file=ANNOTATION,
         problem=r"objects \(malformed or degenerate box\).*data\[0\].*NaN", outputs=(ASSETS,)),
    Case("arkit-assets-zero-size-box", "arkit.main_asset_gen", lambda ws, d: asset_gen(),
         make=annotation_edit(first_box("axesLengths", [0.0, 0.0, 0.0])), expect="skip", file=ANNOTATION,
         problem=r"objects \(malformed or degenerate box\).*data\[0\].*not all positive", outputs=(ASSETS,)),
    Case("arkit-assets-only-unknown-labels", "arkit.main_asset_gen", lambda ws, d: asset_gen(),
         make=annotation_edit(lambda data: [e.update(label="spaceship") for e in data]), expect="skip",
         file=f"scans/train/{BROKEN}", problem=r"scans \(no object with a known label\)", outputs=(ASSETS,)),
    Case("arkit-assets-all-unknown-labels", "arkit.main_asset_gen", lambda ws, d: asset_gen(),
         make=annotation_edit(lambda data: [e.update(label="spaceship") for e in data], others=False), file="scans",
         problem="no scan gave any object asset"),
    Case("arkit-assets-no-scan-folders", "arkit.main_asset_gen", lambda ws, d: asset_gen(),
         make=lambda ws, d: (d / "scans" / "Training").mkdir(parents=True), file="scans",
         problem="no scan folders under train/ or test/"),
    Case("arkit-assets-scan-root-with-spaces", "arkit.main_asset_gen", lambda ws, d: asset_gen("my scans"),
         make=annotation_edit(lambda data: data.append({"label": "chair"}), "my scans"), expect="skip",
         file=f"my scans/train/{BROKEN}/{BROKEN}_3dod_annotation.json",
         problem=r"objects \(malformed or degenerate box\).*'segments'", outputs=(ASSETS,)),

    # ---- arkit.extract_point_samples ------------------------------------------------------------------------
    Case("arkit-sample-before-asset-gen", "arkit.extract_point_samples",
         lambda ws, d: ["--obj_root", "processed/objects", "--save_root", "out", "--quiet"], file="processed/objects",
         problem=r"model_info.json not found.*arkit.main_asset_gen"),

    # ---- arkit.main_scene_gen -------------------------------------------------------------------------------
    Case("arkit-gen-empty-processed-root", "arkit.main_scene_gen",
         lambda ws, d: ["--scene_root", "processed", "--obj_root", "processed/objects", "--save_root", "out", "--quiet"],
         make=lambda ws, d: (d / "processed").mkdir(), file="processed/objects/model_info.json",
         problem="asset list not found.*arkit.main_asset_gen"),
    Case("arkit-gen-missing-scan-scenes", "arkit.main_scene_gen",
         lambda ws, d: scene_gen(ws, "missing"), file="missing/scenes", problem="no scan scenes"),
    Case("arkit-gen-nan-scan-scene", "arkit.main_scene_gen", lambda ws, d: scene_gen(ws, "processed"),
         make=lambda ws, d: edit_npz(scan_scenes_copy(ws, d), trans=lambda t: np.where(t == t[0, 0], np.nan, t)),
         file=f"processed/scenes/train/{BROKEN}.npz", problem="'trans' contains NaN"),

    # ---- arkit.main_scene_augment / arkit.trainer ---------------------------------------------------------
    Case("arkit-augment-missing-root", "arkit.main_scene_augment",
         lambda ws, d: ["--orig_scene_root", "no triplets", "--save_root", "out", "--quiet"], file="no triplets",
         problem="(not found|no )"),
    Case("arkit-trainer-start-from-other-dataset", "arkit.trainer",
         lambda ws, d: ["--scene_root", str(ws.arkit / "triplets"), "--point_sample_root", str(ws.arkit / "samples"),
                        "--log_dir", "out", *TINY_TRAIN, "--load_feature_field", str(ws.checkpoint)],
         file="checkpoint/model.pth", problem="trained on 8 classes, but this data has 17"),

    # ---- arkit.main_field_match -----------------------------------------------------------------------------
    Case("arkit-match-pair-file-bad-row", "arkit.main_field_match",
         lambda ws, d: arkit_match(ws, "--scene_pair_type", "manual", "--scene_pair_file", "pairs.tsv"),
         make=lambda ws, d: pair_file(d, ["test_scene_0\ttest_scene_1\t0\tzero"]), file="pairs.tsv",
         problem="line 2: instance lists must be comma-separated integers"),
    Case("arkit-match-checkpoint-of-other-config", "arkit.main_field_match",
         lambda ws, d: arkit_match(ws, checkpoint=ws.checkpoint / "model.pth"), file="model.pth",
         problem="(8 classes|num_classes).*17"),
]
