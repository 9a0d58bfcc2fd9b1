"""`mtpflow md --random FORMULA`: a seeded random start at a density instead of a START file."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.cli import main as cli_main
from mtpflow.io.mtp import write_mtp
from mtpflow.mtp.init import init_potential


@pytest.fixture
def pot(tmp_path):
    p = init_potential(6, ["Li", "Al", "Cl"], 1.6, 4.5, random_coeffs=True, seed=2, moment_scale=1e-6)
    path = tmp_path / "p.mtp"
    write_mtp(path, p)
    return str(path)


def _run(tmp_path, pot, name, *extra):
    return cli_main(["md", pot, "--random", "Li4Al4Cl16", "--density-factor", "0.8", "--ensemble", "nvt",
                     "--temperature-K", "300", "--steps", "4", "--traj-every", "2", "--thermo-every", "2",
                     "--traj", str(tmp_path / f"{name}.extxyz"), "--thermo", str(tmp_path / f"{name}.csv"),
                     "--threads", "1", *extra])


def test_random_start_is_seeded_and_at_the_density(tmp_path, pot):
    import ase.io

    from mtpflow.data.crystal import reference_density

    assert _run(tmp_path, pot, "a", "--seed", "5") == 0
    assert _run(tmp_path, pot, "b", "--seed", "5") == 0
    assert _run(tmp_path, pot, "c", "--seed", "6") == 0
    a, b, c = (ase.io.read(tmp_path / f"{n}.extxyz", 0) for n in "abc")
    assert a.get_chemical_formula() == "Al4Cl16Li4" and len(a) == 24
    assert np.array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    density = a.get_masses().sum() * 1.66053906660 / a.get_volume()   # amu/Å³ -> g/cm³
    assert density == pytest.approx(0.8 * reference_density()[0], rel=1e-6)


def test_start_and_random_are_exclusive_and_checked(tmp_path, pot, capsys):
    common = ["--ensemble", "nvt", "--temperature-K", "300", "--steps", "2",
              "--traj", str(tmp_path / "x.extxyz"), "--thermo", str(tmp_path / "x.csv")]
    assert cli_main(["md", pot, *common]) == 2
    assert "give a START structure file or --random FORMULA" in capsys.readouterr().err
    assert cli_main(["md", pot, str(tmp_path / "p.mtp"), "--random", "Li4Al4Cl16", *common]) == 2
    assert cli_main(["md", pot, "--random", "Li4Al4Xx16", *common]) == 2
    assert "--random" in capsys.readouterr().err
    assert not (tmp_path / "x.extxyz").exists() and not (tmp_path / "x.csv").exists()
