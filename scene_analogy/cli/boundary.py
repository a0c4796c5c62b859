"""The one-line error boundary of every command.

Entry modules parse flags and call the core inside `user_errors()`, so a problem with the user's
data ends the program with one line on stderr (exit status 2) instead of a traceback. Entering it
also sets the command's process-wide allocator policy (`cli.allocator`): the command owns its process.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from scene_analogy.cli.allocator import reuse_freed_memory
from scene_analogy.files.errors import DataError


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn DataError, and an OSError about a named file (a folder where a file should go, no
    permission, a full disk), into one line on stderr and exit status 2."""
    reuse_freed_memory()
    try:
        yield
    except DataError as exc:
        if not getattr(exc, "quiet", False):  # quiet: another rank prints it (evaluation.ranks)
            _error_line(str(exc))
        raise SystemExit(2) from None
    except OSError as exc:
        if exc.filename is None:
            raise
        _error_line(f"{exc.filename}: {exc.strerror or exc}")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        _error_line("interrupted")
        raise SystemExit(130) from None


def _error_line(message: str) -> None:
    one_line = "error: " + " ".join(message.split())  # messages quoting other libraries may span lines
    if "tqdm" in sys.modules:  # a progress bar may be on screen: print on a line of its own
        from tqdm import tqdm

        tqdm.write(one_line, file=sys.stderr)
    else:
        print(one_line, file=sys.stderr)
