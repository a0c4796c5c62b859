"""Reading JSON files behind the one DataError wrapper (writing is `atomic.write_json`).

Every reader of a JSON file the user gave or a tool wrote goes through `read_json`, so a missing,
unreadable or invalid file is reported the same way everywhere; what the parsed object must hold is
each caller's to check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from scene_analogy.files.errors import DataError

__all__ = ["read_json"]


def read_json(path: str | os.PathLike, what: str, missing: str = "no such file") -> Any:
    """The parsed contents of the UTF-8 JSON file at `path`, whose contents are described by `what`
    (e.g. "field config"). Raises DataError(path, missing) when there is no such file and
    DataError(path, "not a readable JSON <what> (<reason>)") when it cannot be read, is not UTF-8
    or is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, missing) from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise DataError(path, f"not a readable JSON {what} ({exc})") from None
