"""The shared dataset flags keep the published names and defaults (DESIGN §9) and build the configs."""

import argparse
import dataclasses

import pytest

from scene_analogy.cli import flags
from scene_analogy.data.eval_pairs import AugmentConfig
from scene_analogy.data.triplets import TripletConfig
from scene_analogy.match.inputs import MatchConfig


def _parse(builder, argv=(), *args, **kwargs):
    p = argparse.ArgumentParser()
    builder(p, *args, **kwargs)
    return p.parse_args(list(argv))


def test_sample_and_scene_gen_defaults():
    a = _parse(flags.add_sample_flags, (), None, "./samples")
    assert (a.obj_root, a.save_root, a.mesh_num_samples, a.save_num_samples, a.seed) == (None, "./samples", 10000, [50], 0)
    a = _parse(flags.add_scene_gen_flags, (), scene_root_default="./raw", save_root_default="./out",
               point_sample_root_default="./samples")
    assert (a.num_scenes, a.num_load_layout, a.seed, a.max_trans_noise, a.max_rot_noise, a.train_ratio) == (-1, -1, 0, 0.1, 22.5, 0.9)
    assert (a.rescaling_method, a.topk_aspect_sampling, a.ignore_subclass) == ("box_scale", 100, False)
    cfg = flags.scene_gen_config_from_args(_parse(flags.add_scene_gen_flags, ["--max_trans_noise", "0.5", "--max_rot_noise", "90",
                                                                        "--ignore_subclass"], scene_root_default="r",
                                                save_root_default="o", point_sample_root_default="s"))
    assert cfg.triplet == TripletConfig(trans_noise=0.5, rot_noise_deg=90.0, ignore_subclass=True)
    cfg = flags.scene_gen_config_from_args(_parse(
        flags.add_scene_gen_flags, ["--pos_drop_rate", "0.3", "--pos_trans_noise", "0.05", "--pos_rot_noise", "10",
                                    "--pos_floor_jitter", "0.3", "--pos_distractors", "1", "3", "--neg_swap_rate", "0.5"],
        scene_root_default="r", save_root_default="o", point_sample_root_default="s"))
    assert cfg.triplet == TripletConfig(pos_drop_rate=0.3, pos_trans_noise=0.05, pos_rot_noise_deg=10.0,
                                        pos_floor_jitter=0.3, pos_distractors=(1, 3), neg_swap_rate=0.5)


def test_augment_defaults_are_the_config_defaults():
    a = _parse(flags.add_augment_flags, ["--orig_scene_root", "x"])
    assert a.save_root is None and a.seed == 0
    assert flags.augment_config_from_args(a) == AugmentConfig()
    with pytest.raises(SystemExit):
        _parse(flags.add_augment_flags, [])  # --orig_scene_root is required without a dataset default


def test_match_defaults_and_accepted_viewer_flags():
    a = _parse(flags.add_match_flags, ["--scene_root", "r", "--vis_method", "screen", "--vis_local_match_mode", "intra_match",
                                     "--num_vert_split", "1", "--eval_reps", "1"], "ckpt", "./samples")
    assert (a.batch_size, a.scene_buffer_size, a.num_query, a.query_point_type, a.scene_pair_type) == (1, -1, 50, "obj_match_points", "augment")
    assert (a.map_acc_thres, a.bijectivity_acc_thres, a.chamfer_acc_thres) == ([.25, .5, .75], [.25, .5, .75], [.15, .2, .25])
    assert flags.match_config_from_args(a) == MatchConfig()
    thresholds = flags.thresholds_from_args(a)
    assert thresholds["chamfer_thresholds"] == (0.15, 0.2, 0.25)
    for flag in ("global_num_rot", "global_dist_valid_thres", "global_mapping_type", "global_topk", "local_rbf_smoothing",
                 "local_displacement"):
        assert getattr(a, flag) == getattr(MatchConfig(), flag), flag
    assert dataclasses.replace(MatchConfig(), local_valid_thres=1.5) == flags.match_config_from_args(
        _parse(flags.add_match_flags, ["--scene_root", "r", "--local_valid_thres", "1.5"], "c", None))


def test_bearing_term_follows_the_dataset_unless_given():
    """3D-FRONT-like boxes (the objects' own frames) get the bearing term, ARKit-like ones do not; an
    explicit --bearing_weight wins either way. --local_assign reaches the config."""
    plain = _parse(flags.add_match_flags, ["--scene_root", "r"], "c", None)
    assert flags.match_config_from_args(plain, canonical_boxes=True).bearing_weight == MatchConfig().bearing_weight > 0
    assert flags.match_config_from_args(plain, canonical_boxes=False).bearing_weight == 0.0
    given = _parse(flags.add_match_flags, ["--scene_root", "r", "--bearing_weight", "0.2", "--local_assign", "none"], "c", None)
    for canonical in (True, False):
        cfg = flags.match_config_from_args(given, canonical_boxes=canonical)
        assert (cfg.bearing_weight, cfg.local_assign) == (0.2, "none")
    assert flags.match_config_from_args(plain, canonical_boxes=True).relation_weight == MatchConfig().relation_weight
    assert flags.match_config_from_args(plain, canonical_boxes=False).relation_weight == 0.0
    given = _parse(flags.add_match_flags, ["--scene_root", "r", "--relation_weight", "0.3"], "c", None)
    assert all(flags.match_config_from_args(given, canonical_boxes=c).relation_weight == 0.3 for c in (True, False))
    from arkit import SPEC as ARKIT_SPEC
    from threed_front import SPEC as FRONT_SPEC
    assert FRONT_SPEC.canonical_boxes and not ARKIT_SPEC.canonical_boxes


def test_trainer_architecture_flags_override_the_preset():
    """No architecture flag: the preset itself; each flag given replaces just its field."""
    from scene_analogy.field.model import PRESETS

    assert flags.field_config_from_args(_parse(flags.add_trainer_flags, ["--scene_root", "r"], "fast")) == PRESETS["fast"]
    a = _parse(flags.add_trainer_flags, ["--scene_root", "r", "--agg_radius_limit", "48", "--neighbor_pool", "100",
                                       "--transformer_num_heads", "2", "--dropout", "0", "--distance_hidden", "64"], "fast")
    assert flags.field_config_from_args(a) == dataclasses.replace(PRESETS["fast"], max_neighbors=48, neighbor_pool=100,
                                                                num_heads=2, dropout=0.0, distance_hidden=64)


def test_point_sample_root_resolution(tmp_path):
    assert flags.resolve_point_sample_root("given", str(tmp_path), "dataset") == "given"
    assert flags.resolve_point_sample_root(None, str(tmp_path), "dataset") == "dataset"
    (tmp_path / "point_samples").mkdir()
    assert flags.resolve_point_sample_root(None, str(tmp_path), "dataset") == str(tmp_path / "point_samples")


@pytest.mark.parametrize("module", ["threed_front.extract_point_samples", "threed_front.main_scene_gen",
                                    "threed_front.main_scene_augment", "threed_front.trainer",
                                    "threed_front.main_field_match", "scene_analogy.fixtures.__main__",
                                    "arkit.main_asset_gen", "arkit.extract_point_samples", "arkit.main_scene_gen",
                                    "arkit.main_scene_augment", "arkit.trainer", "arkit.main_field_match"])
def test_every_command_has_help(module, capsys):
    import importlib

    with pytest.raises(SystemExit) as stop:
        importlib.import_module(module).main(["--help"])
    assert stop.value.code == 0 and "usage: python -m " + module.replace(".__main__", "") in capsys.readouterr().out


@pytest.mark.parametrize("module", ["scene_analogy.demo", "scene_analogy.analogy"])
def test_candidates_are_drawn_only_on_request(module):
    import importlib

    parser = importlib.import_module(module).build_parser()
    required = ["--tgt", "t", "--ref", "r", "--roi_ids", "1", "--out", "o"] if module.endswith("analogy") else []
    assert parser.parse_args(required).show_candidates is False
    assert parser.parse_args(required + ["--show_candidates"]).show_candidates is True


def test_front_terms_state_the_box_rule_once():
    """Boxes with a front keep MatchConfig's bearing and relation weights, boxes without one get 0 for
    both; the own-data matcher's default config and the calibration script follow the same rule."""
    assert MatchConfig.front_terms(True) == {"bearing_weight": MatchConfig().bearing_weight,
                                             "relation_weight": MatchConfig().relation_weight}
    assert MatchConfig.front_terms(False) == {"bearing_weight": 0.0, "relation_weight": 0.0}
    assert all(MatchConfig.front_terms(True)[k] > 0 for k in ("bearing_weight", "relation_weight"))
    cfg = dataclasses.replace(MatchConfig(), **MatchConfig.front_terms(False))
    assert (cfg.bearing_weight, cfg.relation_weight) == (0.0, 0.0)


def test_integer_flags_refuse_what_the_core_cannot_take():
    """--seed -1 (numpy's generators), an instance id beyond int64, --num_pairs 0 of the demo and
    --global_num_rot 0 of evaluate were tracebacks inside the core; argparse now names the flag."""
    from scene_analogy import analogy, demo, evaluate

    for parser, argv in ((demo.build_parser(), ["--seed", "-1"]), (demo.build_parser(), ["--num_pairs", "0"]),
                         (demo.build_parser(), ["--num_pictures", "-1"]),
                         (evaluate.build_parser(), ["--scene_root", "r", "--global_num_rot", "0"]),
                         (analogy.build_parser(), ["--tgt", "t", "--ref", "r", "--out", "o", "--roi_ids",
                                                   str(1 << 63)])):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(argv)
        assert stop.value.code == 2
    assert flags.seed("0") == 0 and flags.instance_id(str(-(1 << 63))) == -(1 << 63)
    with pytest.raises(ValueError):
        flags.seed(str(1 << 63))


def test_epochs_count_the_triplets_of_every_process(monkeypatch):
    """Under torchrun each step takes batch_size triplets on each process: --epochs 1 over 18 triplets
    in batches of 2 is 9 steps alone, 4 on two processes (it was 9 there too: two passes)."""
    args = _parse(flags.add_trainer_flags, ["--scene_root", "r", "--epochs", "1", "--batch_size", "2"], "fast")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert flags.train_config_from_args(args, 18).steps == 9
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert flags.train_config_from_args(args, 18).steps == 4
    no_epochs = _parse(flags.add_trainer_flags, ["--scene_root", "r", "--batch_size", "2"], "fast")
    assert flags.train_config_from_args(no_epochs, 18).steps == 400  # the published 100 epochs
