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


def test_replacing_a_folder_never_deletes_the_old_one_in_place(tmp_path, monkeypatch):
    """The old folder is renamed aside before the new one moves in: a failure of that move leaves the
    old folder whole (it used to be deleted file by file first), and nothing is left beside it."""
    import os

    (tmp_path / "scene").mkdir()
    for k in range(5):
        (tmp_path / "scene" / f"f{k}.npy").write_text("old")
    real = os.replace

    def failing(src, dst):
        if str(src).endswith(".tmp") and not str(src).endswith(".old.tmp") and os.path.basename(dst) == "scene":
            raise OSError("disk gone")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", failing)
    with pytest.raises(OSError, match="disk gone"):
        with atomic.atomic_dir(tmp_path / "scene") as folder:
            (folder / "new.npy").write_text("new")
    assert sorted(p.name for p in (tmp_path / "scene").iterdir()) == [f"f{k}.npy" for k in range(5)]
    assert [p.name for p in tmp_path.iterdir()] == ["scene"]
