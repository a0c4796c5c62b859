"""Every entry module on bad input (the table in `cases.py`): one clear line, no traceback, nothing
half-written, no code run from a data file."""

from __future__ import annotations

import re

import pytest

from .cases import CASES
from .conftest import CASE_MARK


def message_lines(stderr: str) -> list[str]:
    """stderr without counted warnings and progress bars: what the user is told went wrong."""
    lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines()]
    return [line for line in lines if line and not line.startswith("warning:") and "it/s]" not in line
            and "s/it]" not in line]


def leftovers(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".tmp" in p.name)


def test_table_has_enough_cases():
    assert len(CASES) >= 40
    assert len({c.module for c in CASES}) >= 10


@pytest.mark.robustness_case
@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_bad_input(case, runner):
    spec = runner.cases[case]
    out = runner.result(case)
    where = f"\n--- stdout\n{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-3000:]}"
    assert "Traceback" not in out.stderr + out.stdout, where
    assert not (out.folder / "PWNED").exists(), "a pickle in a data file was executed"
    assert leftovers(out.folder) == [], where
    if spec.expect == "error":
        assert out.returncode != 0, where
        lines = message_lines(out.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), where
        assert spec.file in lines[0], f"the message does not name {spec.file!r}{where}"
        assert re.search(spec.problem, lines[0]), f"the message does not say {spec.problem!r}{where}"
        for rel in spec.outputs:
            path = out.folder / rel
            assert not path.exists() or (path.is_dir() and not any(p.is_file() for p in path.rglob("*"))), \
                f"partial output left behind: {rel}{where}"
    else:
        assert out.returncode == 0, where
        warnings = [line for line in out.stderr.splitlines() if re.match(r"warning: skipped \d+ ", line)]
        assert any(re.search(spec.problem, w) and spec.file in w for w in warnings), where
        for rel in spec.outputs:
            assert (out.folder / rel).exists(), f"missing output {rel}{where}"
