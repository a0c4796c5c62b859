"""Outputs that are whole or absent: write to a temporary name in the same folder, then rename.

`os.replace` is atomic on POSIX when source and destination share a file system, so a reader never
sees a half-written scene, checkpoint, metrics file or picture, and a killed process leaves at most a
stray `*.tmp` behind (never a truncated final file).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`.

    `suffix` ends the temporary name, for writers that pick the format from the extension
    (matplotlib); temporary names always contain ".tmp".
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
    try:
        yield tmp
        _test_pause(path, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


PAUSE_VARIABLE = "SCENE_ANALOGY_TEST_PAUSE_WRITE"
_writes: dict[str, int] = {}


def _test_pause(path: Path, tmp: Path) -> None:
    """Test hook: with SCENE_ANALOGY_TEST_PAUSE_WRITE=NAME:K, the K-th write of a file called NAME
    in this process cuts its temporary file to half (a write in progress), says so on stdout and
    sleeps, so a test can kill the process at exactly that moment (tests/robustness)."""
    wanted = os.environ.get(PAUSE_VARIABLE)
    if not wanted:
        return
    name, _, count = wanted.rpartition(":")
    if path.name != name:
        return
    _writes[name] = _writes.get(name, 0) + 1
    if _writes[name] == int(count):
        os.truncate(tmp, tmp.stat().st_size // 2)
        print(f"paused writing {path}", flush=True)
        time.sleep(3600)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files (`.<name>.<random>.tmp*`) a killed writer left in `folder`; call it
    where one process owns the folder (a training run's log folder). Returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp*"):
        if tmp.is_file():
            tmp.unlink()
            removed.append(tmp)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """`np.savez_compressed` to a temporary file, then rename; object arrays are refused (no pickle)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"{path}: key '{key}' has dtype object, which would need pickle")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes(path, buffer.getvalue())


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Fill a temporary folder beside `path`; on success it replaces `path` as a whole.

    Used for scene folders so an interrupted generator never leaves a folder with some of its files:
    an old folder is renamed aside (one rename), the new one renamed into place, and only then is the
    old one deleted, so at every moment `path` is the old folder whole, absent for an instant, or the
    new one whole (deleting the old one in place first could be killed half way).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old = None
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old.tmp", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            if not path.exists() and (old / path.name).exists():  # the new one never arrived: the old one back
                os.replace(old / path.name, path)
            shutil.rmtree(old, ignore_errors=True)
