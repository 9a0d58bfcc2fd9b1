"""JSON outputs: valid JSON only (RFC 8259 has no NaN or Infinity), written atomically.

A number that is not finite (an R² of a single configuration, a metric with no data) is written as
null, numpy scalars and arrays as plain numbers and lists."""

from __future__ import annotations

import json
import math

import numpy as np

from mtpflow.io.atomic import atomic_open


def json_value(obj):
    """`obj` with every non-finite float replaced by None and numpy types made plain."""
    if isinstance(obj, dict):
        return {str(k): json_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_value(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_value(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    return obj


def write_json(path, obj, indent: int = 2) -> None:
    """Write `obj` as JSON (see json_value), atomically, with a final newline."""
    text = json.dumps(json_value(obj), indent=indent, allow_nan=False)
    with atomic_open(path, "w") as fh:
        fh.write(text + "\n")
