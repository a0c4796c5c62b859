"""The commands' allocator policy (`cli.allocator`): applied once on glibc, left alone when the user's
environment sets malloc, and applied by the error boundary every command enters."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scene_analogy.cli import allocator, boundary


def _applied_in_fresh_process(env_extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k not in allocator.USER_SETTINGS}
    code = "from scene_analogy.cli.allocator import reuse_freed_memory as r; print(r(), r())"
    return subprocess.run([sys.executable, "-c", code], env={**env, **env_extra}, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.skipif(allocator.glibc_mallopt() is None, reason="glibc's mallopt only")
def test_applied_once_on_glibc():
    assert _applied_in_fresh_process({}) == "True True"


@pytest.mark.parametrize("name", allocator.USER_SETTINGS)
def test_the_users_own_malloc_settings_win(name):
    assert _applied_in_fresh_process({name: ""}) == "False False"


def test_every_command_applies_it_through_the_error_boundary(monkeypatch):
    calls = []
    monkeypatch.setattr(boundary, "reuse_freed_memory", lambda: calls.append(1) or True)
    with boundary.user_errors():
        pass
    assert calls == [1]
