"""Room-level and model splits, triplet generation from source scenes, counted skips."""

import numpy as np

from scene_analogy.data.triplets import (
    SceneGenConfig,
    SwapSampler,
    TripletConfig,
    generate_triplet_root,
    model_splits,
    split_count,
    split_rooms,
)
from scene_analogy.files.skips import SkipLog
from scene_analogy.structures.pool import ModelInfo, ObjectPool
from scene_analogy.structures.scene import read_triplet, scene_dirs
from tests.helpers import random_scene, stub_pool


def test_splits_are_seeded_disjoint_and_never_empty():
    names = [f"room{i}" for i in range(15)]
    rooms = split_rooms(names, 0.9, seed=0)
    assert len(rooms["train"]) == 14 and len(rooms["test"]) == 1
    assert sorted(rooms["train"] + rooms["test"]) == list(range(15))
    assert split_rooms(names[::-1], 0.9, seed=0)["test"] == [14 - i for i in rooms["test"]]  # by name, not order
    assert split_count(2, 0.9) == 1 and split_count(1, 0.9) == 1 and split_count(10, 1.0) == 10
    splits = model_splits([f"m{i}" for i in range(9)], [0, 0, 0, 0, 1, 1, 2, 3, 3], 0.9, seed=0)
    for c, members in {0: [0, 1, 2, 3], 1: [4, 5], 3: [7, 8]}.items():
        assert {splits[i] for i in members} == {"train", "test"}, c
    assert splits[6] == "train"  # a class with one model stays in train


def test_a_class_missing_from_the_split_keeps_its_model():
    pool = stub_pool()
    lonely = ModelInfo("lonely", 2, "others", "x", "train", (0, 0, 0), (1, 1, 1))
    pool = ObjectPool([m for m in pool.models if m.class_id != 2] + [lonely])
    sampler = SwapSampler(pool, "test", TripletConfig())
    assert sampler.draw(lonely, np.ones(3), np.random.default_rng(0)) is lonely


def test_generate_cycles_rooms_and_records_sources(tmp_path):
    pool = stub_pool()
    rng = np.random.default_rng(0)
    sources = [(f"room{i}", random_scene(pool, 5, rng)) for i in range(4)]
    cfg = SceneGenConfig(num_scenes=10, train_ratio=0.5, seed=3, triplet=TripletConfig(trans_noise=0.5))
    summary = generate_triplet_root(tmp_path / "s", sources, pool, cfg, progress=False)
    assert summary["train_scenes"] == 5 and summary["test_scenes"] == 5 and summary["test_rooms"] == 2
    assert [d.name for d in scene_dirs(tmp_path / "s", "test")] == [f"test_scene_{i}" for i in range(5)]
    import json

    origin = json.loads((tmp_path / "s/sources.json").read_text())
    assert origin["test_scene_0"] == origin["test_scene_2"] != origin["test_scene_1"]  # cycling through 2 rooms
    again = generate_triplet_root(tmp_path / "t", sources, pool, cfg, progress=False)
    assert again["test_scenes"] == 5
    a = read_triplet(tmp_path / "s/test_scene_3/scene.npz")["neg"]
    b = read_triplet(tmp_path / "t/test_scene_3/scene.npz")["neg"]
    np.testing.assert_array_equal(a.trans, b.trans)  # seeded per triplet


def test_skip_log_counts_per_kind_and_quotes_the_first():
    log = SkipLog()
    log.add("rooms", "empty", "a.json", "room 1")
    log.add("rooms", "empty", "b.json", "room 2")
    log.add("houses", "malformed house JSON", "c.json", "Expecting value:\n line 1")
    assert log.lines() == ["warning: skipped 2 rooms (empty), e.g. a.json: room 1",
                           "warning: skipped 1 houses (malformed house JSON), e.g. c.json: Expecting value: line 1"]
    assert log.count("rooms") == 2 and log.count() == 3
