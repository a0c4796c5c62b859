"""Counted warnings for data that is skipped (a broken house file, a missing model, an empty room).

A reader calls `skips.add(kind, where, why)` for each item it drops; at the end `report()` prints one
line per kind, with the count and the first example, so a dataset with ten thousand broken files
gives a handful of lines rather than ten thousand:

    warning: skipped 3 houses (malformed house JSON), e.g. data/3D-FRONT/0a1b.json: Expecting value ...
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field


@dataclass
class SkipLog:
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, kind: str, why: str, where: str | os.PathLike | None = None, detail: str = "") -> None:
        """Count one skipped `kind` (e.g. "houses") for the reason `why`; the first one is quoted."""
        key = (kind, why)
        self.counts[key] = self.counts.get(key, 0) + 1
        if key not in self.examples:
            text = os.fspath(where) if where is not None else ""
            self.examples[key] = f"{text}: {detail}" if text and detail else (text or detail)

    def count(self, kind: str | None = None) -> int:
        return sum(n for (k, _), n in self.counts.items() if kind is None or k == kind)

    def lines(self) -> list[str]:
        out = []
        for (kind, why), n in self.counts.items():
            example = " ".join(self.examples[(kind, why)].split())  # one line, whatever the detail held
            out.append(f"warning: skipped {n} {kind} ({why})" + (f", e.g. {example}" if example else ""))
        return out

    def report(self, stream=None) -> None:
        for line in self.lines():
            print(line, file=stream or sys.stderr)
