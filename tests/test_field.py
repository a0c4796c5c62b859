"""ContextDescriptorField: invariances, neighbourhood semantics, brute-force agreement, checkpoints."""

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scene_analogy.field.checkpoint import load_field, save_checkpoint, save_pretrained
from scene_analogy.field.model import PRESETS, FieldConfig, semantics_free
from scene_analogy.files.errors import DataError

SMALL = FieldConfig(max_neighbors=12, num_layers=2, num_heads=4, feedforward=32, out_dim=48)


def _scene(n=300, seed=0):
    gen = torch.Generator().manual_seed(seed)
    points = torch.rand(n, 3, generator=gen) * torch.tensor([3.0, 2.5, 3.0])
    labels = torch.randint(0, 9, (n,), generator=gen)
    return points, labels


def _field(cfg, seed=0):
    torch.manual_seed(seed)
    return cfg.build().eval()


def _rotation(axis, angle):
    """Rodrigues: rotation by `angle` about unit `axis`."""
    axis = axis / axis.norm()
    k = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return torch.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _brute_force(field, q, points, labels):
    """Descriptor of one query from scratch: numpy distances, nearest k in the ball, torch's own
    nn.TransformerEncoder forward over [summary, tokens] without padding."""
    cfg = field.cfg
    dist = np.linalg.norm(points.double().numpy() - q.double().numpy(), axis=1)
    order = np.argsort(dist, kind="stable")
    keep = [i for i in order if dist[i] <= cfg.radius][: max(cfg.max_neighbors, cfg.neighbor_pool)]
    if len(keep) > cfg.max_neighbors:  # the pool, spread evenly by rank (always the nearest first)
        keep = [keep[j * len(keep) // cfg.max_neighbors] for j in range(cfg.max_neighbors)]
    scaled = torch.tensor(dist[keep], dtype=torch.float32) / cfg.radius
    tokens = field.dist_emb.dist_mlp(scaled[:, None])
    if cfg.uses_semantics:
        tokens = torch.cat([tokens, field.semantics_emb.weight[labels[keep]]], -1)
    x = torch.cat([field.summary_emb.weight, tokens])[None]
    out = field.final_lin(field.feat_transformer(x)[0, 0])
    return F.normalize(out, dim=-1) if cfg.normalize else out


INVARIANCE_CONFIGS = {"paper": PRESETS["paper"], "fast": PRESETS["fast"],
                      "fast-semantics-free": PRESETS["fast-semantics-free"],
                      "fast-pool": dataclasses.replace(PRESETS["fast"], neighbor_pool=100)}


@pytest.mark.parametrize("name", list(INVARIANCE_CONFIGS))
def test_invariant_to_rotation_and_mirror_about_query(name):
    field = _field(INVARIANCE_CONFIGS[name])
    points, labels = _scene()
    gen = torch.Generator().manual_seed(1)
    queries = points[:4] + 0.05 * torch.randn(4, 3, generator=gen)  # on and off keypoints
    batch = len(queries)
    # Batch element b holds the scene transformed about its own query b.
    rotated, mirrored = [], []
    for b in range(batch):
        rot = _rotation(torch.randn(3, generator=gen), float(torch.rand(1, generator=gen)) * 2 * math.pi)
        rotated.append((points - queries[b]) @ rot.T + queries[b])
        normal = F.normalize(torch.randn(3, generator=gen), dim=0)
        mirrored.append(points - 2 * ((points - queries[b]) @ normal)[:, None] * normal)
    q = queries[:, None]
    labels_b = labels.expand(batch, -1)
    with torch.inference_mode():
        base = field(q, points.expand(batch, -1, -1), labels_b)
        for moved in (rotated, mirrored):
            out = field(q, torch.stack(moved), labels_b)
            assert (out - base).abs().max() <= 1e-5
    # Sanity: the test scene is not trivially empty around the queries.
    assert not torch.allclose(base[0], base[1], atol=1e-3)


@pytest.mark.parametrize("cfg", [SMALL, semantics_free(SMALL), dataclasses.replace(SMALL, normalize=False),
                                 dataclasses.replace(SMALL, neighbor_pool=40)])
def test_matches_brute_force_with_torch_encoder(cfg):
    """Chunking, count-sorting, padding and the summary-only last layer change nothing."""
    field = _field(cfg)
    points, labels = _scene()
    queries = torch.cat([points[:6] + 0.02, torch.tensor([[50.0, 0, 0], [1.5, 1.2, 1.5]])])
    with torch.inference_mode():
        out = field.describe(queries, points, labels, chunk_size=3)
        for i, q in enumerate(queries):
            np.testing.assert_allclose(out[i].numpy(), _brute_force(field, q, points, labels).numpy(), atol=2e-5)
    norms = out.norm(dim=-1)
    if cfg.normalize:
        np.testing.assert_allclose(norms.numpy(), 1.0, atol=1e-5)
    else:
        assert (norms - 1).abs().max() > 1e-2


def test_paper_preset_matches_brute_force_and_is_normalised():
    field = _field(PRESETS["paper"])
    points, labels = _scene()
    with torch.inference_mode():
        out = field.describe(points[:2], points, labels)
        for i in range(2):
            np.testing.assert_allclose(out[i].numpy(), _brute_force(field, points[i], points, labels).numpy(),
                                       atol=2e-5)
    np.testing.assert_allclose(out.norm(dim=-1).numpy(), 1.0, atol=1e-5)


def test_deterministic():
    points, labels = _scene()
    queries = points[:20] + 0.01
    with torch.inference_mode():
        a = _field(PRESETS["fast"]).describe(queries, points, labels)
        b = _field(PRESETS["fast"]).describe(queries, points, labels)
        c = _field(PRESETS["fast"]).describe(queries, points, labels)
    assert torch.equal(a, b) and torch.equal(b, c)


def test_empty_neighbourhood_gives_summary_only_descriptor():
    field = _field(SMALL)
    points, labels = _scene()
    far = torch.tensor([[100.0, 0, 0], [0, -50.0, 0], [30.0, 30.0, 30.0]])
    with torch.inference_mode():
        out = field.describe(torch.cat([far, points[:2]]), points, labels)
        summary_only = F.normalize(field.final_lin(field.feat_transformer(field.summary_emb.weight[None])[0, 0]), dim=-1)
    for i in range(3):
        np.testing.assert_allclose(out[i].numpy(), summary_only.numpy(), atol=1e-6)
    assert not torch.allclose(out[3], summary_only, atol=1e-3)


def test_points_beyond_radius_and_padding_do_not_matter():
    field = _field(SMALL)
    points, labels = _scene()
    queries = points[:5] + 0.01
    gen = torch.Generator().manual_seed(3)
    far = points.mean(0) + 10 + torch.rand(40, 3, generator=gen)  # > radius from every query
    near_garbage = queries[0] + 0.01 * torch.rand(40, 3, generator=gen)
    with torch.inference_mode():
        base = field.describe(queries, points, labels)
        beyond = field.describe(queries, torch.cat([points, far]), torch.cat([labels, labels[:40]]))
        padded = field(queries[None], torch.cat([points, near_garbage])[None], torch.cat([labels, labels[:40]])[None],
                       points_lengths=torch.tensor([len(points)]))[0]
        unpadded = field(queries[None], torch.cat([points, near_garbage])[None], torch.cat([labels, labels[:40]])[None])[0]
    np.testing.assert_allclose(beyond.numpy(), base.numpy(), atol=1e-6)
    np.testing.assert_allclose(padded.numpy(), base.numpy(), atol=1e-6)
    assert (unpadded[0] - base[0]).abs().max() > 1e-3  # the same points, unmasked, do matter


def test_only_nearest_max_neighbors_count():
    cfg = dataclasses.replace(SMALL, max_neighbors=8)
    field = _field(cfg)
    q = torch.tensor([[0.0, 0.0, 0.0]])
    ring = torch.tensor([[0.05 * (i + 1), 0.0, 0.0] for i in range(8)])  # the 8 nearest: 0.05 .. 0.4 m
    labels = torch.arange(8) % 9
    outside_cap = torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.0, -0.6]])  # inside the ball, beyond the 8th
    closer = torch.tensor([[0.0, 0.01, 0.0]])
    with torch.inference_mode():
        base = field.describe(q, ring, labels)
        more = field.describe(q, torch.cat([ring, outside_cap]), torch.cat([labels, torch.tensor([3, 4])]))
        displaced = field.describe(q, torch.cat([ring, closer]), torch.cat([labels, torch.tensor([5])]))
    np.testing.assert_allclose(more.numpy(), base.numpy(), atol=1e-6)
    assert (displaced - base).abs().max() > 1e-3


def test_paper_parameter_names_and_shapes():
    shapes = {k: tuple(v.shape) for k, v in PRESETS["paper"].build().state_dict().items()}
    expected = {"semantics_emb.weight": (9, 32), "dist_emb.dist_mlp.0.weight": (16, 1), "dist_emb.dist_mlp.0.bias": (16,),
                "dist_emb.dist_mlp.2.weight": (32, 16), "dist_emb.dist_mlp.2.bias": (32,), "summary_emb.weight": (1, 64),
                "feat_transformer.norm.weight": (64,), "feat_transformer.norm.bias": (64,),
                "final_lin.weight": (256, 64), "final_lin.bias": (256,)}
    layer = {"self_attn.in_proj_weight": (192, 64), "self_attn.in_proj_bias": (192,),
             "self_attn.out_proj.weight": (64, 64), "self_attn.out_proj.bias": (64,),
             "linear1.weight": (2048, 64), "linear1.bias": (2048,), "linear2.weight": (64, 2048), "linear2.bias": (64,),
             "norm1.weight": (64,), "norm1.bias": (64,), "norm2.weight": (64,), "norm2.bias": (64,)}
    for i in range(6):
        expected.update({f"feat_transformer.layers.{i}.{k}": v for k, v in layer.items()})
    assert shapes == expected
    free = {k for k in PRESETS["paper-semantics-free"].build().state_dict()}
    assert "semantics_emb.weight" not in free and "summary_emb.weight" in free


def test_training_mode_gradients_and_frozen_class_embedding():
    points, labels = _scene()
    for train_classes in (False, True):
        field = _field(dataclasses.replace(SMALL, train_class_embedding=train_classes)).train()
        field.describe(points[:4] + 0.01, points, labels).sum().backward()
        assert field.final_lin.weight.grad is not None and field.dist_emb.dist_mlp[0].weight.grad is not None
        assert (field.semantics_emb.weight.grad is not None) == train_classes


def test_bad_labels_and_config_rejected():
    field = _field(SMALL)
    points, labels = _scene()
    with pytest.raises(ValueError, match="labels must lie"):
        field.describe(points[:2], points, labels + 9)
    with pytest.raises(ValueError, match="divisible"):
        FieldConfig(num_heads=7)
    with pytest.raises(ValueError, match="radius"):
        FieldConfig(radius=0.0)


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    field = _field(PRESETS["fast"], seed=5)
    points, labels = _scene()
    save_checkpoint(tmp_path / "a.pth", field, step=7)
    save_pretrained(tmp_path / "run", field)
    raw = torch.load(tmp_path / "a.pth", weights_only=True)
    assert raw["step"] == 7 and raw["config"] == dataclasses.asdict(PRESETS["fast"])
    assert (tmp_path / "run" / "config.json").is_file()
    with torch.inference_mode():
        expected = field.describe(points[:10], points, labels)
        for loaded in (load_field(tmp_path / "a.pth"), load_field(tmp_path / "run"),
                       load_field(tmp_path / "run" / "model.pth")):
            assert loaded.cfg == field.cfg and not loaded.training
            assert not loaded.semantics_emb.weight.requires_grad
            # Equal weights; outputs agree to rounding (BLAS kernels may depend on buffer alignment).
            assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), field.state_dict().values()))
            np.testing.assert_allclose(loaded.describe(points[:10], points, labels).numpy(), expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["config"].update(out_dim=128), "key 'final_lin.weight' has shape (256, 64) but the config expects (128, 64)"),
    (lambda p: p["state_dict"].pop("feat_transformer.norm.bias"), "key 'feat_transformer.norm.bias' is missing"),
    (lambda p: p["state_dict"].update(extra=torch.zeros(1)), "unexpected key 'extra'"),
    (lambda p: p["config"].update(wings=2), "unknown field config key(s) 'wings'"),
])
def test_mismatched_checkpoint_names_the_key(tmp_path, edit, message):
    save_checkpoint(tmp_path / "m.pth", _field(FieldConfig(num_layers=1, feedforward=16)))
    payload = torch.load(tmp_path / "m.pth", weights_only=True)
    edit(payload)
    torch.save(payload, tmp_path / "m.pth")
    with pytest.raises(DataError) as err:
        load_field(tmp_path / "m.pth")
    assert message in str(err.value) and str(tmp_path / "m.pth") in str(err.value)


def test_sidecar_config_must_agree(tmp_path):
    save_pretrained(tmp_path / "run", _field(SMALL))
    (tmp_path / "run" / "config.json").write_text('{"radius": 0.5}')
    with pytest.raises(DataError, match="disagrees"):
        load_field(tmp_path / "run")


def test_calibrated_threshold_travels_with_the_checkpoint(tmp_path):
    """calibration.json beside model.pth sets field.valid_threshold, which the matcher uses unless
    MatchConfig gives a number; a bad file is a one-line error naming it."""
    from scene_analogy.match.inputs import DEFAULT_VALID_THRES, MatchConfig

    save_pretrained(tmp_path / "run", _field(SMALL))
    plain = load_field(tmp_path / "run")
    assert plain.valid_threshold is None and MatchConfig().valid_threshold(plain) == DEFAULT_VALID_THRES
    (tmp_path / "run" / "calibration.json").write_text('{"local_valid_thres": 1.2, "pairs": 60}')
    for path in (tmp_path / "run", tmp_path / "run" / "model.pth"):
        field = load_field(path)
        assert field.valid_threshold == 1.2 and MatchConfig().valid_threshold(field) == 1.2
        assert MatchConfig(local_valid_thres=0.3).valid_threshold(field) == 0.3
    for text in ('{"local_valid_thres": -1}', '{"local_valid_thres": "high"}', "[1.2]", "{"):
        (tmp_path / "run" / "calibration.json").write_text(text)
        with pytest.raises(DataError) as err:
            load_field(tmp_path / "run")
        assert str(tmp_path / "run" / "calibration.json") in str(err.value) and "\n" not in str(err.value)


def test_field_of_another_class_count_is_refused_when_the_data_says_how_many(tmp_path):
    small = dataclasses.replace(SMALL, num_classes=8)
    save_checkpoint(tmp_path / "m.pth", _field(small))
    save_checkpoint(tmp_path / "free.pth", _field(semantics_free(small)))
    assert load_field(tmp_path / "m.pth", num_classes=8).cfg.num_classes == 8
    with pytest.raises(DataError, match="trained on 8 classes, but this data has 17") as err:
        load_field(tmp_path / "m.pth", num_classes=17)
    assert str(tmp_path / "m.pth") in str(err.value)
    assert load_field(tmp_path / "free.pth", num_classes=17).cfg.semantics_emb_size == 0  # labels unused


def test_a_scene_without_keypoints_gives_the_empty_space_descriptor():
    """P = 0: every query sees the summary token alone (it crashed gathering labels from an empty
    scene); and `describe` follows the field's dtype (float64 after .double())."""
    field = _field(SMALL).eval()
    with torch.no_grad():
        empty = field(torch.rand(2, 3, 3), torch.zeros(2, 0, 3), torch.zeros(2, 0, dtype=torch.long))
        far = field(torch.rand(1, 1, 3), torch.full((1, 4, 3), 50.0), torch.ones(1, 4, dtype=torch.long))
        torch.testing.assert_close(empty, far[0, 0].expand_as(empty), atol=1e-6, rtol=0)
        double = _field(SMALL).double().eval()
        out = double.describe(np.random.rand(4, 3), np.random.rand(30, 3), np.ones(30, dtype=np.int64))
    assert out.dtype == torch.float64 and out.shape == (4, SMALL.out_dim)


def test_weights_with_nan_are_refused(tmp_path):
    field = _field(SMALL)
    with torch.no_grad():
        field.final_lin.weight[0, 0] = float("nan")
    save_checkpoint(tmp_path / "nan.pth", field)
    with pytest.raises(DataError, match="key 'final_lin.weight' holds NaN or inf") as err:
        load_field(tmp_path / "nan.pth")
    assert str(tmp_path / "nan.pth") in str(err.value) and "\n" not in str(err.value)


def test_evaluation_commands_refuse_a_field_of_another_class_table(tmp_path, capsys):
    """evaluate and demo read the synthetic trees in 3D-FRONT's 8 classes: a 17-class (ARKit) field is
    one line naming its model.pth, before any data is made."""
    from scene_analogy import demo, evaluate
    from scene_analogy.field.checkpoint import PRETRAINED

    from scene_analogy.synthetic.dataset import ensure_eval_pairs

    ark = str(PRETRAINED / "arkit_default")
    runs = ((demo.main, ["--checkpoint", ark, "--scene_root", str(tmp_path / "new"), "--log_dir", str(tmp_path / "d")]),
            (evaluate.main, ["--checkpoint", ark, "--scene_root", str(tmp_path / "syn"), "--methods", "ours",
                             "--out", str(tmp_path / "e")]))
    ensure_eval_pairs(tmp_path / "syn", 2, 0)
    capsys.readouterr()  # the generator's progress bars
    for main, argv in runs:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "trained on 17 classes, but this data has 8" in err and err.count("\n") == 1
        assert "arkit_default" in err
    assert not (tmp_path / "new").exists() and not (tmp_path / "e").exists()


def test_absent_devices_are_named_not_the_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "m.pth", _field(SMALL))
    with pytest.raises(DataError, match="unknown device 'foo'") as err:
        load_field(tmp_path / "m.pth", map_location="foo")
    assert "m.pth" not in str(err.value)
    if not torch.cuda.is_available():
        with pytest.raises(DataError, match="device 'cuda': no CUDA device is available here"):
            load_field(tmp_path / "m.pth", map_location="cuda")
    else:
        with pytest.raises(DataError, match="CUDA device"):
            load_field(tmp_path / "m.pth", map_location=f"cuda:{torch.cuda.device_count()}")


def test_non_checkpoint_files_raise_data_error(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    listing = tmp_path / "list.pth"
    torch.save([1, 2, 3], listing)
    for path in (text, listing, tmp_path / "absent.pth"):
        with pytest.raises(DataError) as err:
            load_field(path)
        assert str(path) in str(err.value)
