"""Session fixtures of the robustness suite: the valid inputs (built once) and a runner that starts
the selected cases' commands a few at a time, so the suite's wall time is not the sum of ~50
interpreter start-ups."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from .cases import Case, by_name
from .workspace import REPO, Workspace, build_workspace

CASE_MARK = "robustness_case"


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    folder: Path


def run_command(module: str, argv: list, cwd: Path, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled",
                "PYTHONWARNINGS": "ignore::DeprecationWarning", **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *map(str, argv)], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


class Runner:
    """Makes each case's bad input in its own folder and runs its command on a small thread pool."""

    def __init__(self, ws: Workspace, base: Path, wanted: list[str]):
        self.ws, self.base, self.cases = ws, base, by_name()
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(3, (os.cpu_count() or 1))))
        self.futures: dict[str, Future] = {}
        for name in wanted:  # in collection order: the first test waits for the first command only
            self.submit(name)

    def submit(self, name: str) -> Future:
        if name not in self.futures:
            self.futures[name] = self.pool.submit(self._run, self.cases[name])
        return self.futures[name]

    def _run(self, case: Case) -> Outcome:
        folder = self.base / case.name
        folder.mkdir()
        if case.make is not None:
            case.make(self.ws, folder)
        done = run_command(case.module, case.argv(self.ws, folder), folder, case.timeout, case.env)
        # Beside (not inside) the case folder: what each case printed, for a reader of the run.
        (self.base / f"{case.name}.stderr").write_text(done.stderr)
        return Outcome(done.returncode, done.stdout, done.stderr, folder)

    def result(self, name: str) -> Outcome:
        return self.submit(name).result()


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("robustness_inputs"))


@pytest.fixture(scope="session")
def runner(request, workspace, tmp_path_factory) -> Runner:
    wanted = [item.callspec.params["case"] for item in request.session.items
              if item.get_closest_marker(CASE_MARK) is not None and hasattr(item, "callspec")]
    r = Runner(workspace, tmp_path_factory.mktemp("robustness_cases"), wanted)
    yield r
    r.pool.shutdown(cancel_futures=True)
