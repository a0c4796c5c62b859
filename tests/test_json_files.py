"""`files.json_files.read_json`: the parsed object, or one DataError naming the file."""

from __future__ import annotations

import re

import pytest

from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json


def test_reads_the_parsed_object(tmp_path):
    (tmp_path / "a.json").write_text('{"models": [1, 2.5, "x"], "ok": true}', encoding="utf-8")
    assert read_json(tmp_path / "a.json", "thing") == {"models": [1, 2.5, "x"], "ok": True}


@pytest.mark.parametrize("write, problem", [
    (None, "^no such file$"),
    (lambda p: p.write_text('{"a": 1,', encoding="utf-8"), r"^not a readable JSON field config \(.*line 1"),
    (lambda p: p.write_bytes(b'{"a": "\xff"}'), r"^not a readable JSON field config \(.*utf-8"),
    (lambda p: p.mkdir(), r"^not a readable JSON field config \(.*directory"),
])
def test_missing_unreadable_and_invalid_files_name_the_file(tmp_path, write, problem):
    path = tmp_path / "config.json"
    if write is not None:
        write(path)
    with pytest.raises(DataError) as info:
        read_json(path, "field config")
    assert info.value.path == str(path) and str(info.value).startswith(f"{path}: ")
    assert re.search(problem, info.value.problem), info.value.problem
    assert "\n" not in str(info.value)  # one line at the command-line boundary


def test_a_missing_file_can_say_what_writes_it(tmp_path):
    with pytest.raises(DataError) as info:
        read_json(tmp_path / "model_info.json", "asset list", missing="asset list not found (run the generator)")
    assert info.value.problem == "asset list not found (run the generator)"
