"""One species parser (mtpflow.species.parse_species) behind every verb and the potential files'
species metadata: the same checks and the same message everywhere."""

from __future__ import annotations

import pytest

from mtpflow.cli import main
from mtpflow.errors import InputError
from mtpflow.species import parse_species


def test_parse_species():
    assert parse_species("Li,Al,Cl") == ["Li", "Al", "Cl"]
    assert parse_species(" Li , Cl,Al ,") == ["Li", "Cl", "Al"]
    assert parse_species(["Li", "Cl"]) == ["Li", "Cl"]
    assert parse_species(None) is None
    with pytest.raises(InputError, match=r"--species: unknown element 'Xx'"):
        parse_species("Li,Xx")
    with pytest.raises(InputError, match=r"--species: unknown element 'li'"):
        parse_species("li,Cl")
    with pytest.raises(InputError, match=r"species: element Li is listed twice in Li,Cl,Li"):
        parse_species(["Li", "Cl", "Li"], "species")
    with pytest.raises(InputError, match=r"--species is empty"):
        parse_species(" , ")
    with pytest.raises(InputError, match=r"^pot\.mtp: #mtpflow species: unknown element 'Q'"):
        parse_species("Li,Q", "#mtpflow species", "pot.mtp")


@pytest.fixture(scope="module")
def pot(tmp_path_factory):
    d = tmp_path_factory.mktemp("sp")
    assert main(["init-mtp", "--level", "6", "--species", "Li,Cl,Al", "--min-dist", "1.5",
                 "--max-dist", "4.5", "--random-coeffs", "--seed", "1", "--out", str(d / "p.mtp")]) == 0
    return d / "p.mtp"


def _verbs(pot, tmp, species):
    cfg = tmp / "missing.cfg"
    return {
        "init-mtp": ["init-mtp", "--level", "6", "--species", species, "--min-dist", "1.5",
                     "--max-dist", "4.5", "--out", str(tmp / "o.mtp")],
        "train": ["train", str(pot), str(cfg), "--out", str(tmp / "t.mtp"), "--species", species],
        "calc-errors": ["calc-errors", str(pot), str(cfg), "--species", species],
        "calc-efs": ["calc-efs", str(pot), str(cfg), str(tmp / "o.cfg"), "--species", species],
        "dataset": ["dataset", str(cfg), "--species", species, "--train", str(tmp / "a.cfg"),
                    "--test", str(tmp / "b.cfg"), "--summary", str(tmp / "s.csv")],
        "densify": ["densify", str(cfg), "--species", species, "--out", str(tmp / "d.cfg")],
        "convert": ["convert", str(cfg), str(tmp / "c.extxyz"), "--species", species],
        "lammps-traj": ["lammps-traj", str(tmp / "missing.dump"), "--species", species,
                        "--timestep-fs", "1", "--out", str(tmp / "t.extxyz")],
    }


@pytest.mark.parametrize("verb", ["init-mtp", "train", "calc-errors", "calc-efs", "dataset",
                                  "densify", "convert", "lammps-traj"])
@pytest.mark.parametrize("species, message", [
    ("Li,Xx,Cl", "--species: unknown element 'Xx'"),
    ("Li,Cl,Li", "--species: element Li is listed twice in Li,Cl,Li"),
])
def test_every_verb_gives_the_same_species_error(verb, species, message, pot, tmp_path, capsys):
    rc = main(_verbs(pot, tmp_path, species)[verb])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1


def test_potential_species_metadata_is_checked(pot, tmp_path):
    from mtpflow.io.mtp import read_mtp

    text = pot.read_text()
    assert "species:Li,Cl,Al" in text
    bad = tmp_path / "bad.mtp"
    bad.write_text(text.replace("species:Li,Cl,Al", "species:Li,Cl,Zz"))
    with pytest.raises(InputError, match=r"bad\.mtp: the potential's species metadata: "
                                         r"unknown element 'Zz'"):
        read_mtp(bad)
    # the form written by earlier versions (trailing '#mtpflow species = ...') is checked the same way
    old = tmp_path / "old.mtp"
    name_line = next(line for line in text.splitlines() if line.startswith("potential_name"))
    old.write_text(text.replace(name_line, "potential_name = MTP1m") + "#mtpflow species = Li,Cl,Zz\n")
    with pytest.raises(InputError, match=r"old\.mtp: the potential's species metadata: "
                                         r"unknown element 'Zz'"):
        read_mtp(old)
