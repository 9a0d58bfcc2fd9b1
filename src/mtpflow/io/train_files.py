"""Training files: checkpoints (the potential as MLIP text, the full BFGS state and the log rows, in
one .npz written atomically, so a kill never leaves a damaged checkpoint) and the per-iteration log
CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open
from mtpflow.train.optimizer import BFGSState

FORMAT = "mtpflow-train-checkpoint-2"  # 2: x = preconditioned radial coordinates


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
    """Returns (potential, BFGSState, log_rows, meta)."""
    from mtpflow.io.mtp import parse_mtp

    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
        if str(z["format"]) != FORMAT:
            if str(z["format"]).startswith("mtpflow-train-checkpoint-"):
                raise InputError(f"checkpoint format {str(z['format'])!r} is from another mtpflow "
                                 f"version (this one reads {FORMAT!r}); start the training again",
                                 path)
            raise InputError(f"not an mtpflow training checkpoint (format {str(z['format'])!r})", path)
        pot = parse_mtp(str(z["potential"]).encode("utf-8"), f"{path} (potential)")
        H = z["H"]
        state = BFGSState(x=z["x"].copy(), f=float(z["f"]), g=z["g"].copy(),
                          H=H.copy() if H.size else None, iteration=int(z["iteration"]),
                          history=[float(v) for v in z["history"]], n_evals=int(z["n_evals"]),
                          last_step=float(z["last_step"]))
        rows = [list(r) for r in z["log_rows"]]
        meta = json.loads(str(z["meta"]))
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"cannot read the checkpoint ({exc})", path) from exc
    n_rad = pot.species_count ** 2 * pot.radial_funcs_count * pot.radial_basis_size
    if len(state.x) != n_rad:
        raise InputError("the checkpoint is inconsistent (parameter count)", path)
    return pot, state, rows, meta


def write_train_log(path, columns, rows) -> None:
    """The whole per-iteration log CSV, rewritten atomically (a reader never sees a partial row)."""
    with atomic_open(path, "w") as fh:
        fh.write(",".join(columns) + "\n")
        for r in rows:
            fh.write(f"{int(r[0])},{r[1]:.17g},{r[2]:.17g},{r[3]:.17g},{r[4]:.17g}\n")
