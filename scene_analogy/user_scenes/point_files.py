"""JSON point lists (`transfer.read_points`): checking each item against point 1's form.

A JSON point list is a list of 3 / 4 / 7 numbers per point, or a list of objects with `position`
[x, y, z] and optional `yaw` or `quaternion` [x, y, z, w] (the formats are described in
`transfer.py`'s docstring). `write_points` writes every item back by point 1's layout, so each item
must have point 1's form; `json_item` checks one item and returns its numbers, raising ValueError
with a message naming the point (the caller turns it into a DataError naming the file).
`is_json_number` is the test for a JSON number (not a bool, not a numeric string), also used for
pose values.
"""

from __future__ import annotations

__all__ = ["is_json_number", "json_item"]


def is_json_number(value) -> bool:
    # np.array(..., float64) would also take "0.5" and True: neither is a coordinate in a JSON file
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(value) -> bool:
    return isinstance(value, list) and all(is_json_number(v) for v in value)


_JSON_FORMS = "[x, y, z(, ...)] or {'position': [x, y, z], ...}"


def json_item(k: int, item, first) -> list:
    """The numbers of point k (1-based), checked against point 1: `write_points` writes every item
    back by point 1's layout, so an item of another form would be misread or crash the writer after
    the matching (a yaw taken for z, a yaw with no value to write)."""
    where = f"point {k}"
    if isinstance(item, list) and isinstance(first, list):
        if not _numbers(item) or len(item) not in (3, 4, 7):
            raise ValueError(f"{where} is not {_JSON_FORMS}: a list of 3, 4 or 7 numbers")
        if len(item) != len(first):
            raise ValueError(f"{where} has {len(item)} values but point 1 has {len(first)}; all need the same")
        return item
    if not (isinstance(item, dict) and isinstance(first, dict)):
        kind = "an object" if isinstance(first, dict) else "a list"
        raise ValueError(f"{where} is not {_JSON_FORMS}" + (f" like point 1 ({kind})" if k > 1 else ""))
    if "position" not in item:
        raise ValueError(f"{where} is not {_JSON_FORMS} (no 'position')")
    position = item["position"]
    if not _numbers(position) or len(position) != 3:
        got = f"{len(position)} values" if _numbers(position) else "not a list of numbers"
        raise ValueError(f"{where}: 'position' is {got}; expected 3 numbers [x, y, z]")
    orient = [key for key in ("yaw", "quaternion") if key in item]
    if len(orient) == 2:
        raise ValueError(f"{where} has both 'yaw' and 'quaternion'; give one orientation")
    expected = [key for key in ("yaw", "quaternion") if key in first]
    if orient != expected:
        said = [f"'{keys[0]}'" if keys else "no orientation" for keys in (orient, expected)]
        raise ValueError(f"{where} has {said[0]} but point 1 has {said[1]}; all points need the same keys")
    if orient == ["yaw"]:
        if not is_json_number(item["yaw"]):
            raise ValueError(f"{where}: 'yaw' is not a number (radians)")
        return position + [item["yaw"]]
    if orient == ["quaternion"]:
        if not _numbers(item["quaternion"]) or len(item["quaternion"]) != 4:
            raise ValueError(f"{where}: 'quaternion' is not 4 numbers [x, y, z, w]")
        return position + item["quaternion"]
    return position
