import pytest

from scene_analogy.files import atomic


def test_interrupted_writes_leave_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic.atomic_dir(tmp_path / "train_scene_0") as folder:
            (folder / "scene.npz").write_bytes(b"half")
            raise RuntimeError("killed")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(tmp_path / "metrics.json") as tmp:
            tmp.write_text("{")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_whole_folder(tmp_path):
    (tmp_path / "scene").mkdir()
    (tmp_path / "scene" / "old.txt").write_text("old")
    with atomic.atomic_dir(tmp_path / "scene") as folder:
        (folder / "new.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "scene").iterdir()) == ["new.txt"]
    atomic.write_json(tmp_path / "a.json", {"x": 1})
    assert (tmp_path / "a.json").read_text().strip().startswith("{")
