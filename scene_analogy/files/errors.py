"""One exception type for problems with the user's files or data.

Raised where the problem is found; turned into a single line on stderr at the command-line boundary
(`scene_analogy.cli.user_errors`). Programming errors are left as ordinary exceptions so they keep
their traceback.
"""

from __future__ import annotations

import os


class DataError(Exception):
    """A problem with a file or its contents that the user can act on."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
