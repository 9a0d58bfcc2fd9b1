"""Active sets on disk: mtpflow's cache, and MLIP-3's `#MVS_v1.1` selection block.

Cache. Building an active set (rows of the whole training set, then MaxVol) is the expensive part
of grading, so it is kept in a cache folder, one file per key (mtpflow.mtp.grade.cache_key: the
potential's model digest, the training set's content digest, mode, threshold, init value):

    <cache dir>/<key>.npz        A, A_inv, source and a JSON header with the key and a checksum

The cache folder is --cache-dir, else $MTPFLOW_CACHE_DIR/active_sets, else
$XDG_CACHE_HOME/mtpflow/active_sets, else ~/.cache/mtpflow/active_sets. An entry is used only when
it reads completely, its header names the same key and format, the checksum over its arrays
matches and the shapes fit; anything else (a truncated, edited or foreign file) is recomputed and
overwritten. Entries are written atomically, so concurrent jobs at worst compute the same entry
twice. A cache folder that cannot be written costs only the time to recompute (a warning says so).

MLIP-3's block (cfg_selection.cpp Save/Load, maxvol.cpp WriteData/ReadData in MLIP-3's public
source): after the potential's text,

    #MVS_v1.1
    energy_weight <e>  force_weight 0  stress_weight 0  site_en_weight <s>  weight_scaling 2
    #<A: m*m float64, row-major><A^-T: m*m float64, i.e. column j of A^-1 as row j>
    #
    <m lines "cfg_index eqn_index", -1 -1 for a row without a stored configuration>
    #
    <the selected configurations in MLIP's binary .cfg format>

(one key and value per line; nbh mode: energy_weight 0, site_en_weight 1; cfg mode: 1 and 0).
mtpflow writes -1 -1 links and no configurations: MLIP-3's Load then treats every row as one
without a stored configuration, which grading and extrapolation control (LAMMPS `pair_style mlip
... extrapolation_control=true`) need no more than A and A^-1 for. MLIP-3 is not installed where
the tests run: the tests check this layout with a reader written from MLIP-3's Load.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open
from mtpflow.mtp.grade import FORMAT, ActiveSet

MVS_MARKER = b"#MVS_v1.1"


def default_cache_dir() -> Path:
    if os.environ.get("MTPFLOW_CACHE_DIR"):
        return Path(os.environ["MTPFLOW_CACHE_DIR"]) / "active_sets"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mtpflow" / "active_sets"


def cache_path(cache_dir, key: str) -> Path:
    return Path(cache_dir) / f"{key}.npz"


def _checksum(header: dict, arrays: dict) -> str:
    h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + repr((a.dtype.str, a.shape)).encode() + a.tobytes())
    return h.hexdigest()


def load_cached(cache_dir, key: str, n_params: int) -> tuple[ActiveSet | None, str]:
    """(the cached active set, "") or (None, why it was not used: absent, unreadable, ...)."""
    path = cache_path(cache_dir, key)
    if not path.exists():
        return None, "not cached yet"
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.array(z[k]) for k in ("A", "A_inv", "source")}
            header = json.loads(bytes(z["header"]).decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - any damage means: recompute
        return None, f"unreadable cache entry {path} ({type(exc).__name__}); recomputed"
    check = header.pop("checksum", None)
    m = n_params
    problems = []
    if header.get("format") != FORMAT or header.get("key") != key:
        problems.append("another key or format")
    if check != _checksum(header, arrays):
        problems.append("checksum mismatch")
    if arrays["A"].shape != (m, m) or arrays["A_inv"].shape != (m, m) or arrays["source"].shape != (m, 2):
        problems.append("wrong shapes")
    elif not (np.isfinite(arrays["A"]).all() and np.isfinite(arrays["A_inv"]).all()):
        problems.append("non-finite values")
    if header.get("mode") not in ("nbh", "cfg"):
        problems.append("unknown mode")
    if problems:
        return None, f"cache entry {path} not used ({', '.join(problems)}); recomputed"
    return ActiveSet(mode=header["mode"], A=arrays["A"], A_inv=arrays["A_inv"],
                     source=arrays["source"].astype(np.int64), threshold=float(header["threshold"]),
                     init_value=float(header["init_value"]), key=key, n_swaps=int(header["n_swaps"]),
                     n_rows=int(header["n_rows"]), from_cache=True), ""


def save_cached(cache_dir, active: ActiveSet) -> Path | None:
    """Write the entry atomically; None (and a warning) when the cache folder is not writable."""
    path = cache_path(cache_dir, active.key)
    arrays = {"A": np.ascontiguousarray(active.A, dtype=np.float64),
              "A_inv": np.ascontiguousarray(active.A_inv, dtype=np.float64),
              "source": np.ascontiguousarray(active.source, dtype=np.int64)}
    header = {"format": FORMAT, "key": active.key, "mode": active.mode, "threshold": active.threshold,
              "init_value": active.init_value, "n_swaps": active.n_swaps, "n_rows": active.n_rows}
    header["checksum"] = _checksum(dict(header), arrays)
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            fh.write(buf.getvalue())
    except (OSError, InputError) as exc:
        warnings.warn(f"could not write the active-set cache {path} ({exc}); the next grading with "
                      "this potential and training set will build it again", stacklevel=2)
        return None
    return path


def format_mvs_block(active: ActiveSet) -> bytes:
    """MLIP-3's #MVS_v1.1 block for `active` (module doc), to append to a potential's text."""
    m = len(active.A)
    nbh = active.mode == "nbh"
    head = (f"#MVS_v1.1\nenergy_weight {0.0 if nbh else 1.0:.16e}\nforce_weight {0.0:.16e}\n"
            f"stress_weight {0.0:.16e}\nsite_en_weight {1.0 if nbh else 0.0:.16e}\n"
            f"weight_scaling {2}\n#").encode()
    body = (np.ascontiguousarray(active.A, dtype="<f8").tobytes()
            + np.ascontiguousarray(active.A_inv.T, dtype="<f8").tobytes())
    links = "".join("-1 -1\n" for _ in range(m)).encode()
    return head + body + b"\n#\n" + links + b"#\n"


def write_potential_with_active_set(path, pot, active: ActiveSet) -> None:
    """The potential's text (mtpflow.io.mtp.format_mtp) followed by `active` as MLIP-3's
    #MVS_v1.1 block, written atomically (in place of any block the potential came with)."""
    from mtpflow.io.mtp import format_mtp

    if active.A.shape != (pot.n_params(), pot.n_params()):
        raise InputError(f"the active set has {len(active.A)} coefficients, the potential "
                         f"{pot.n_params()}", path)
    with atomic_open(path, "wb") as fh:
        fh.write(format_mtp(pot).encode("utf-8") + format_mvs_block(active))


def read_mvs_block(data: bytes, n_params: int, where=None):
    """(weights dict, A, A_inv) from an #MVS_v1.1 block (MLIP-3's or mtpflow's), read as MLIP-3's
    CfgSelection::Load does: the five `key value` pairs, then after the next '#' the two m x m
    matrices (A, then A^-1 transposed)."""
    if not data.startswith(MVS_MARKER):
        raise InputError("no #MVS_v1.1 block (MLIP-3's active-learning state)", where)
    pos = len(MVS_MARKER)
    hash_pos = data.find(b"#", pos)
    if hash_pos < 0:
        raise InputError("#MVS_v1.1 block: no '#' before the matrices", where)
    toks = data[pos:hash_pos].split()
    keys = ("energy_weight", "force_weight", "stress_weight", "site_en_weight", "weight_scaling")
    if len(toks) != 10 or tuple(t.decode() for t in toks[0::2]) != keys:
        raise InputError(f"#MVS_v1.1 block: expected {' '.join(keys)} with values", where)
    weights = {k.decode(): float(v) for k, v in zip(toks[0::2], toks[1::2])}
    m = n_params
    start = hash_pos + 1
    if len(data) < start + 16 * m * m:
        raise InputError(f"#MVS_v1.1 block too short for two {m} x {m} matrices", where)
    A = np.frombuffer(data, dtype="<f8", count=m * m, offset=start).reshape(m, m).copy()
    inv_t = np.frombuffer(data, dtype="<f8", count=m * m, offset=start + 8 * m * m).reshape(m, m)
    return weights, A, inv_t.T.copy()
