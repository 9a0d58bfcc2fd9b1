"""Training files: checkpoints (the potential as MLIP text, the full BFGS state and the log rows, in
one .npz written atomically, so a kill never leaves a damaged checkpoint) and the per-iteration log
CSV."""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open
from mtpflow.train.optimizer import BFGSState

FORMAT = "mtpflow-train-checkpoint-2"  # 2: x = preconditioned radial coordinates
_KEYS = ("format", "potential", "x", "f", "g", "H", "iteration", "history", "n_evals", "last_step",
         "log_rows", "meta")


def open_npz(path, written_by: str):
    """np.load of an .npz checkpoint, every entry's CRC checked; a file that is no .npz archive or
    fails the check is an InputError."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":      # every .npz (a zip archive) starts so, even a truncated one
        what = "an empty file" if not magic else "not an .npz archive"
        raise InputError(f"not an mtpflow checkpoint ({what}); give the file written by {written_by}",
                         path)
    obj = np.load(path, allow_pickle=False)
    if not isinstance(obj, np.lib.npyio.NpzFile):
        raise InputError(f"not an mtpflow checkpoint (not an .npz archive); give the file written by "
                         f"{written_by}", path)
    bad = obj.zip.testzip()  # numpy reads members without checking their CRC-32: check them all
    if bad is not None:
        obj.close()
        raise InputError(f"the checkpoint is damaged (entry {bad!r} fails its CRC check); use an "
                         "intact checkpoint or start again", path)
    return obj


def save_checkpoint(path, pot, state: BFGSState, log_rows, meta: dict) -> None:
    from mtpflow.io.mtp import format_mtp

    arrays = {
        "format": np.array(FORMAT),
        "potential": np.array(format_mtp(pot)),
        "x": state.x, "f": np.array(state.f), "g": state.g,
        "H": state.H if state.H is not None else np.zeros((0, 0)),
        "iteration": np.array(state.iteration), "history": np.array(state.history, dtype=float),
        "n_evals": np.array(state.n_evals), "last_step": np.array(state.last_step),
        "log_rows": np.array(log_rows, dtype=float).reshape(-1, 5),
        "meta": np.array(json.dumps(meta)),
    }
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_checkpoint(path):
    """Returns (potential, BFGSState, log_rows, meta). A missing, truncated or otherwise damaged
    file, or one whose contents do not fit together, is an InputError naming it."""
    from mtpflow.io.mtp import parse_mtp

    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found; give the file written by --checkpoint", path)
    try:
        with open_npz(path, "train --checkpoint") as z:
            missing = [k for k in _KEYS if k not in z.files]
            if "format" in missing:
                raise InputError("not an mtpflow training checkpoint (no format entry); give the "
                                 "file written by train --checkpoint", path)
            fmt = str(z["format"])
            if fmt != FORMAT:
                if fmt.startswith("mtpflow-train-checkpoint-"):
                    raise InputError(f"checkpoint format {fmt!r} is from another mtpflow version (this "
                                     f"one reads {FORMAT!r}); start the training again", path)
                raise InputError(f"not an mtpflow training checkpoint (format {fmt!r})", path)
            if missing:
                raise InputError(f"the checkpoint lacks {', '.join(missing)}; it is damaged: start "
                                 "the training again or use an intact checkpoint", path)
            arrays = {k: z[k] for k in _KEYS}
    except InputError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"cannot read the checkpoint: the file is damaged or truncated ({exc}); "
                         "use an intact checkpoint or start the training again", path) from None
    try:
        pot = parse_mtp(str(arrays["potential"]).encode("utf-8"), f"{path} (potential)")
        H = arrays["H"]
        state = BFGSState(x=np.array(arrays["x"], dtype=np.float64), f=float(arrays["f"]),
                          g=np.array(arrays["g"], dtype=np.float64),
                          H=np.array(H, dtype=np.float64) if H.size else None,
                          iteration=int(arrays["iteration"]),
                          history=[float(v) for v in np.ravel(arrays["history"])],
                          n_evals=int(arrays["n_evals"]), last_step=float(arrays["last_step"]))
        log = np.asarray(arrays["log_rows"], dtype=np.float64)
        meta = json.loads(str(arrays["meta"]))
    except InputError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(f"the checkpoint's contents are damaged ({exc}); use an intact checkpoint "
                         "or start the training again", path) from None
    n_rad = pot.species_count ** 2 * pot.radial_funcs_count * pot.radial_basis_size
    problem = None
    if state.x.shape != (n_rad,) or state.g.shape != (n_rad,):
        problem = f"parameter count {state.x.shape}/{state.g.shape}, the potential needs {n_rad}"
    elif state.H is not None and state.H.shape != (n_rad, n_rad):
        problem = f"inverse Hessian of shape {state.H.shape} for {n_rad} parameters"
    elif not (np.isfinite(state.f) and np.all(np.isfinite(state.x)) and np.all(np.isfinite(state.g))
              and (state.H is None or np.all(np.isfinite(state.H)))):
        problem = "NaN or inf in the optimiser state"
    elif state.iteration < 0 or state.n_evals < 0:
        problem = f"negative iteration count {state.iteration}"
    elif log.ndim != 2 or log.shape[1] != 5:
        problem = f"log rows of shape {log.shape} (5 columns expected)"
    elif not isinstance(meta, dict):
        problem = "metadata is not a mapping"
    if problem:
        raise InputError(f"the checkpoint is inconsistent ({problem}); use an intact checkpoint or "
                         "start the training again", path)
    return pot, state, [list(r) for r in log], meta


def write_train_log(path, columns, rows) -> None:
    """The whole per-iteration log CSV, rewritten atomically (a reader never sees a partial row)."""
    with atomic_open(path, "w") as fh:
        fh.write(",".join(columns) + "\n")
        for r in rows:
            fh.write(f"{int(r[0])},{r[1]:.17g},{r[2]:.17g},{r[3]:.17g},{r[4]:.17g}\n")
