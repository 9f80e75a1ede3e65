"""Binary COPY of numpy columns into PostgreSQL: no Python loop over rows.

Every column is a 4-byte integer or an 8-byte float and never NULL, so a row has a fixed
layout and the whole stream is one structured numpy array.
"""

import io
from typing import Any

import numpy as np

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TYPES = {"int4": (">i4", 4), "float8": (">f8", 8)}


def copy_columns(cursor: Any, table: str, columns: dict[str, tuple[str, np.ndarray]]) -> int:
    """COPY ``columns`` ({name: ("int4" | "float8", values)}) into ``table``; returns rows."""
    names = list(columns)
    rows = len(next(iter(columns.values()))[1]) if columns else 0
    dtype = np.dtype(
        [("fields", ">i2")]
        + [(name, [("length", ">i4"), ("value", _TYPES[columns[name][0]][0])]) for name in names]
    )
    data = np.zeros(rows, dtype=dtype)
    data["fields"] = len(names)
    for name in names:
        kind, values = columns[name]
        data[name]["length"] = _TYPES[kind][1]
        data[name]["value"] = values
    stream = io.BytesIO(_SIGNATURE + data.tobytes() + b"\xff\xff")
    column_list = ", ".join(names)
    cursor.copy_expert(f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT binary)", stream)
    return rows
