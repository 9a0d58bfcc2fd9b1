"""Writers of small synthetic trajectories (extxyz, LAMMPS dumps) for the analysis tests."""

from __future__ import annotations

import numpy as np
import pytest

TRICLINIC = np.array([[12.0, 0.0, 0.0], [3.0, 11.0, 0.0], [-2.0, 2.5, 10.0]])
ORTHO = np.diag([11.0, 12.0, 13.0])


def write_extxyz(path, positions, cell, *, species="Li", others=(("Al", 3), ("Cl", 5)),
                 dt_ps=0.01, times=None, cells=None, with_time=True, seed=1):
    """positions (T, N, 3) as given (wrap them first to test unwrapping); other species static."""
    rng = np.random.default_rng(seed)
    T, N, _ = positions.shape
    extra = [(el, rng.random(3) @ cell) for el, n in others for _ in range(n)]
    with open(path, "w") as fh:
        for t in range(T):
            c = cell if cells is None else cells[t]
            info = f'Lattice="{" ".join(f"{v:.10f}" for v in c.ravel())}" '
            info += "Properties=species:S:1:pos:R:3"
            if with_time:
                tt = t * dt_ps if times is None else times[t]
                info += f" time_ps={tt:.10g} step={t * 10}"
            fh.write(f"{N + len(extra)}\n{info} pbc=\"T T T\"\n")
            rows = [(species, positions[t, i]) for i in range(N)]
            for k, e in enumerate(extra):   # interleave species so selection by symbol matters
                rows.insert(min(len(rows), 3 * k + 1), e)
            for el, p in rows:
                fh.write(f"{el} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}\n")


def write_dump(path, positions, cell, *, mode="x", types=(1, 2), n_other=4, images=None,
               element=False, shuffle=False, seed=2):
    """LAMMPS text dump; mode x | xu | xs | xsu; images (T, N, 3) adds ix iy iz columns."""
    rng = np.random.default_rng(seed)
    T, N, _ = positions.shape
    a, b, c = cell
    xy, xz, yz = b[0], c[0], c[1]
    tri = any(abs(v) > 0 for v in (xy, xz, yz))
    lo = np.zeros(3)
    hi = np.array([a[0], b[1], c[2]])
    other = rng.random((n_other, 3)) @ cell
    inv = np.linalg.inv(cell)
    cols = {"x": "x y z", "xu": "xu yu zu", "xs": "xs ys zs", "xsu": "xsu ysu zsu"}[mode]
    head = "id type " + ("element " if element else "") + cols + (" ix iy iz" if images is not None else "")
    with open(path, "w") as fh:
        for t in range(T):
            fh.write(f"ITEM: TIMESTEP\n{t * 100}\nITEM: NUMBER OF ATOMS\n{N + n_other}\n")
            if tri:
                fh.write("ITEM: BOX BOUNDS xy xz yz pp pp pp\n")
                fh.write(f"{lo[0] + min(0, xy, xz, xy + xz)} {hi[0] + max(0, xy, xz, xy + xz)} {xy}\n")
                fh.write(f"{lo[1] + min(0, yz)} {hi[1] + max(0, yz)} {xz}\n{lo[2]} {hi[2]} {yz}\n")
            else:
                fh.write("ITEM: BOX BOUNDS pp pp pp\n" + "".join(f"0 {h}\n" for h in hi))
            fh.write(f"ITEM: ATOMS {head}\n")
            lines = []
            for i in range(N + n_other):
                p = positions[t, i] if i < N else other[i - N]
                typ = types[0] if i < N else types[1]
                v = p @ inv if mode in ("xs", "xsu") else p
                s = f"{i + 1} {typ} " + (("Li " if i < N else "Cl ") if element else "")
                s += f"{v[0]:.9f} {v[1]:.9f} {v[2]:.9f}"
                if images is not None:
                    im = images[t, i] if i < N else (0, 0, 0)
                    s += f" {int(im[0])} {int(im[1])} {int(im[2])}"
                lines.append(s + "\n")
            if shuffle:
                lines = [lines[k] for k in rng.permutation(len(lines))]
            fh.writelines(lines)


@pytest.fixture
def brownian_wrapped():
    from mtpflow.analysis.synthetic import brownian, wrap

    def make(cell, n_frames=400, n_ions=40, D=0.5, dt_ps=0.01, seed=3):
        pos = brownian(n_frames, n_ions, D, dt_ps, cell, seed=seed)
        return pos, wrap(pos, cell)
    return make
