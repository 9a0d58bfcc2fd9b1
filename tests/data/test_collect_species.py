"""`mtpflow collect` without --species: the types are the elements the inputs name, their union in
order of first appearance, printed; with --species the given order is kept."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mtpflow.cli import main
from mtpflow.io.cfg import read_cfg
from tests.conftest import shared_path


def _species_line(out: str) -> list[str]:
    line = next(ln for ln in out.splitlines() if ln.startswith("species (type order"))
    return line.split(": ", 1)[1].split(";")[0].split(",")


def _check_types(cfg_path, inputs_symbols, species):
    configs = read_cfg(cfg_path)
    assert [[species[t] for t in c.types] for c in configs] == inputs_symbols
    assert {dict(c.features)["mtpflow_species"] for c in configs} == {",".join(species)}


@pytest.mark.parametrize("folder, want", [
    ("ti_o_vasp6", ["Ti", "O"]),      # atoms Ti, Ti, Ti, O, O, Ti, Ti, Ti
    ("h2o_md_vasp5", ["O", "H"]),     # atoms O, O, H, H, H, H
    ("ti_aimd", ["Ti"]),
])
def test_one_vasp_run(tmp_path, capsys, folder, want):
    from mtpflow.io.vasp import read_vasp_run

    run = shared_path("vasp_samples", folder)
    out = tmp_path / "o.cfg"
    assert main(["collect", str(run), "--out", str(out)]) == 0
    assert _species_line(capsys.readouterr().out) == want
    _check_types(out, [a.get_chemical_symbols() for a in read_vasp_run(run).frames], want)


def test_union_over_inputs_in_order_of_first_appearance(tmp_path, capsys):
    from mtpflow.io.vasp import read_vasp_run

    runs = [shared_path("vasp_samples", f) for f in ("ti_aimd", "h2o_md_vasp5", "ti_o_vasp6")]
    out = tmp_path / "o.cfg"
    assert main(["collect", *map(str, runs), "--out", str(out)]) == 0
    want = ["Ti", "O", "H"]
    assert _species_line(capsys.readouterr().out) == want
    symbols = [a.get_chemical_symbols() for r in runs for a in read_vasp_run(r).frames]
    _check_types(out, symbols, want)
    # the order of the inputs decides
    assert main(["collect", *map(str, runs[::-1]), "--out", str(tmp_path / "r.cfg")]) == 0
    assert _species_line(capsys.readouterr().out) == ["Ti", "O", "H"]
    assert main(["collect", str(runs[1]), str(runs[0]), "--out", str(tmp_path / "s.cfg")]) == 0
    assert _species_line(capsys.readouterr().out) == ["O", "H", "Ti"]


def _evaluated(symbols, seed):
    rng = np.random.default_rng(seed)
    atoms = Atoms(symbols, positions=rng.random((len(symbols), 3)) * 8.0, cell=[8.0, 8.0, 8.0], pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0 * seed, free_energy=-1.0 * seed,
                                       forces=rng.normal(size=(len(symbols), 3)),
                                       stress=np.zeros(6))
    atoms.info.update({"feature_EFS_by": "test", "step": seed, "time_fs": 2.0 * seed})
    return atoms


def test_self_made_extxyz(tmp_path, capsys):
    # a later frame names an element the first one lacks: it comes last
    frames = [_evaluated(["Cl", "Li", "Cl", "Al"], 1), _evaluated(["Cl", "Li", "Cl", "Al", "Na"], 2)]
    ase.io.write(tmp_path / "t.extxyz", frames)
    out = tmp_path / "o.cfg"
    assert main(["collect", str(tmp_path / "t.extxyz"), "--out", str(out)]) == 0
    want = ["Cl", "Li", "Al", "Na"]
    assert _species_line(capsys.readouterr().out) == want
    _check_types(out, [f.get_chemical_symbols() for f in frames], want)
    assert [list(c.types) for c in read_cfg(out)] == [[0, 1, 0, 2], [0, 1, 0, 2, 3]]
    # --species keeps the order given (and prints no species line)
    assert main(["collect", str(tmp_path / "t.extxyz"), "--species", "Li,Al,Cl,Na", "--out", str(out)]) == 0
    assert "species (type order" not in capsys.readouterr().out
    assert [list(c.types) for c in read_cfg(out)] == [[2, 0, 2, 1], [2, 0, 2, 1, 3]]
    # an element missing from --species is an error naming the file
    assert main(["collect", str(tmp_path / "t.extxyz"), "--species", "Li,Al,Cl", "--out",
                 str(tmp_path / "x.cfg")]) == 2
    assert "t.extxyz" in capsys.readouterr().err and not (tmp_path / "x.cfg").exists()
