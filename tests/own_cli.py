"""Shared pieces of the own-data command's error tests: the sample pair's flags, a fixture that
fails if the matcher runs, and the one-line refusal check."""

from __future__ import annotations

from pathlib import Path

import pytest

import scene_analogy.user_scenes.matching as matching
from scene_analogy.analogy import main

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_pair"
REF = ["--ref", str(SAMPLE / "reference.ply"), "--roi_ids", "7", "8", "4"]
SCENES = ["--tgt", str(SAMPLE / "target.ply")] + REF


@pytest.fixture
def no_matching(monkeypatch):
    """Refusals that are knowable from the flags and files must come before the (slow) matcher."""
    def refuse(*args, **kwargs):
        raise AssertionError("the matcher ran before the bad input was refused")

    monkeypatch.setattr(matching, "find_analogy", refuse)


def refused(argv, capsys) -> str:
    """The command's stderr for argv, which must be one `error: ...` line and exit status 2."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    return err
