"""Several trajectory files read as one trajectory: the segments of one MD run, in order (mtpflow
md --stop-at-step / --continue-from, the workflow's production/seg000.extxyz, seg001, ...).

`Chain` checks, file by file, that they continue each other: the same atoms (count, elements of
the selection and their order, ids), the next file's first frame one frame interval after the
previous file's last (by `step` where frames carry it, else `time_ps`): not the same frame again
(overlapping files), not later (frames, or a whole segment, missing; files out of order), and the
same cell across the boundary when the cell is constant within the files (NVT). Any break is an
InputError naming both files and the frame.
"""

from __future__ import annotations

import numpy as np

from mtpflow.errors import InputError


class Chain:
    def __init__(self, paths):
        self.paths = [str(p) for p in paths]
        self.first_state: dict | None = None
        self.prev: dict | None = None       # the previous file: path, last step/time, cells
        self.stride: dict[str, float] = {}  # "step" / "time" -> spacing seen within a file
        self.cur: dict | None = None

    def start_file(self, path) -> None:
        if self.paths.count(str(path)) > 1:
            raise InputError("is given more than once; give each segment once, in order", path)
        self.cur = {"path": str(path), "first": None, "last": None, "cell0": None, "cell_varies": False}

    def frame(self, fr) -> None:
        """Called for every frame of the current file, in order."""
        cur = self.cur
        key = self._keys(fr)
        if cur["first"] is None:
            cur["first"] = key
            cur["cell0"] = fr.cell
            if self.prev is not None:
                self._check_boundary(fr, key)
        else:
            for name in ("step", "time"):
                if key[name] is not None and cur["last"][name] is not None and name not in self.stride:
                    self.stride[name] = key[name] - cur["last"][name]
            if not cur["cell_varies"] and not np.array_equal(fr.cell, cur["cell0"]):
                cur["cell_varies"] = True
        cur["last"] = key
        cur["last_cell"] = fr.cell

    def end_file(self, state: dict) -> None:
        """After the current file's last frame; state: the reader's per-file state (atoms)."""
        cur = self.cur
        if cur["first"] is None:
            raise InputError("holds no frame; give the segments that hold frames", cur["path"])
        atoms = {k: state.get(k) for k in ("n_atoms", "composition", "indices")}
        if self.first_state is None:
            self.first_state = atoms
        else:
            first = self.paths[0]
            if atoms["n_atoms"] != self.first_state["n_atoms"] or \
                    atoms["composition"] != self.first_state["composition"]:
                raise InputError(f"{atoms['n_atoms']} atoms ({_formula(atoms['composition'])}), but "
                                 f"{first} has {self.first_state['n_atoms']} "
                                 f"({_formula(self.first_state['composition'])}): the files are not "
                                 "segments of one run", cur["path"])
            a, b = atoms["indices"], self.first_state["indices"]
            if a is not None and b is not None and not np.array_equal(a, b):
                raise InputError(f"the selected atoms have other indices or ids than in {first}: "
                                 "the files are not segments of one run", cur["path"])
        self.prev = cur

    @staticmethod
    def _keys(fr) -> dict:
        return {"step": fr.step, "time": fr.time_ps, "index": fr.index, "line": fr.line}

    def _check_boundary(self, fr, key) -> None:
        prev, path = self.prev, self.cur["path"]
        last = prev["last"]
        for name, unit in (("step", ""), ("time", " ps")):
            a, b = last[name], key[name]
            if a is None or b is None:
                continue
            stride = self.stride.get(name)
            tol = 1e-6 * abs(stride) if stride else 1e-9
            what = f"frame 0 ({name} {b:g}{unit})"
            if abs(b - a) <= tol:
                raise InputError(f"{what} repeats the last frame of {prev['path']} ({name} {a:g}{unit}): "
                                 "the files overlap; give each segment once, in order", path, key["line"])
            if b < a:
                raise InputError(f"{what} comes before the end of {prev['path']} ({name} {a:g}{unit}): "
                                 "the files are out of order or overlap; give the segments in order",
                                 path, key["line"])
            if stride is not None and abs(b - a - stride) > tol:
                gap = (b - a) / stride - 1
                raise InputError(f"{what} does not follow the last frame of {prev['path']} ({name} "
                                 f"{a:g}{unit}; frames are {stride:g}{unit} apart): "
                                 f"{'about ' if abs(gap - round(gap)) > 1e-6 else ''}{gap:.0f} frame(s) "
                                 "are missing between the files (a segment left out?)", path, key["line"])
            break
        if not prev["cell_varies"] and not np.allclose(fr.cell, prev["last_cell"], rtol=1e-9, atol=1e-9):
            raise InputError(f"frame 0 has another cell than the last frame of {prev['path']}, whose "
                             "cell does not change: the files are not segments of one run",
                             path, key["line"])


def _formula(composition) -> str:
    return "".join(f"{el}{n}" for el, n in sorted((composition or {}).items()))
