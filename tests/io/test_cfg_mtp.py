"""MLIP .cfg and .mtp readers/writers: round trips, MLIP-3 spellings, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from mtpflow.errors import InputError
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.io.mtp import format_mtp, read_mtp, write_mtp
from mtpflow.structures import Configuration
from tests.conftest import shared_path


def _random_config(rng, n=7, periodic=True, direct=False):
    cell = np.diag([5.0, 6.0, 7.0]) + rng.normal(0, 0.3, (3, 3)) if periodic else None
    pos = rng.uniform(0, 5, (n, 3))
    conf = Configuration(positions=pos, types=rng.integers(0, 3, n), cell=cell,
                         energy=float(rng.normal()) * 1e3, forces=rng.normal(size=(n, 3)),
                         plus_stress=rng.normal(size=6), features=[("EFS_by", "VASP"), ("note", "a b")])
    if direct:
        conf.direct = rng.uniform(0, 1, (n, 3))
        conf.positions = conf.direct @ cell
    return conf


def test_cfg_round_trip_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    configs = [_random_config(rng), _random_config(rng, periodic=False), _random_config(rng, direct=True),
               Configuration(positions=np.zeros((2, 3)), types=[0, 1])]
    write_cfg(tmp_path / "a.cfg", configs)
    back = read_cfg(tmp_path / "a.cfg")
    assert len(back) == 4
    for a, b in zip(configs, back):
        assert np.array_equal(a.positions, b.positions)
        assert np.array_equal(a.types, b.types)
        for name in ("cell", "forces", "plus_stress", "direct"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None and y is None) or np.array_equal(x, y), name
        assert a.energy == b.energy
        assert a.features == b.features
    write_cfg(tmp_path / "b.cfg", back)
    assert (tmp_path / "a.cfg").read_text() == (tmp_path / "b.cfg").read_text()


def test_cfg_extra_atom_data_columns_round_trip(tmp_path):
    """Further AtomData columns (MLIP's nbh_grades, anything else) are kept by name and order,
    with or without forces, in exponent and fixed-point notation."""
    rng = np.random.default_rng(3)
    a = _random_config(rng, direct=True)
    a.atom_data = {"nbh_grades": rng.uniform(0, 5, a.n_atoms), "charge": rng.normal(size=a.n_atoms)}
    b = Configuration(positions=rng.uniform(0, 4, (3, 3)), types=[2, 0, 1],
                      atom_data={"nbh_grades": [0.5, 1.25, 3.0]})
    text = ("BEGIN_CFG\n Size\n 2\n AtomData: id type cartes_x cartes_y cartes_z nbh_grades fx\n"
            " 1 0 0.0 0.0 0.0 0.12345 9\n 2 1 1.5 0.0 0.0 2.5 8\n END_CFG\n")
    (tmp_path / "mlip.cfg").write_text(text)
    c = read_cfg(tmp_path / "mlip.cfg")[0]
    assert list(c.atom_data) == ["nbh_grades", "fx"] and c.forces is None
    np.testing.assert_array_equal(c.atom_data["nbh_grades"], [0.12345, 2.5])
    for fixed in (False, True):
        write_cfg(tmp_path / "x.cfg", [a, b, c], fixed_point=fixed)
        back = read_cfg(tmp_path / "x.cfg")
        for orig, got in zip([a, b, c], back):
            assert list(got.atom_data) == list(orig.atom_data)
            for name in orig.atom_data:
                np.testing.assert_array_equal(got.atom_data[name], orig.atom_data[name])
            np.testing.assert_array_equal(got.positions, orig.positions)
            assert (orig.forces is None) == (got.forces is None)
        write_cfg(tmp_path / "y.cfg", back, fixed_point=fixed)
        assert (tmp_path / "x.cfg").read_text() == (tmp_path / "y.cfg").read_text()
    header = [line for line in (tmp_path / "y.cfg").read_text().splitlines() if "AtomData" in line]
    assert header[0].split()[-2:] == ["nbh_grades", "charge"] and header[0].split()[-5:-2] == ["fx", "fy", "fz"]
    with pytest.raises(ValueError, match="nbh_grades"):
        Configuration(positions=np.zeros((2, 3)), types=[0, 1], atom_data={"nbh_grades": [1.0]})
    dup = text.replace("nbh_grades fx", "q q")
    (tmp_path / "dup.cfg").write_text(dup)
    with pytest.raises(InputError, match="AtomData names a column twice"):
        read_cfg(tmp_path / "dup.cfg")


def test_cfg_reads_mlip_files():
    configs = read_cfg(shared_path("guidebook_LiAlCl4", "test.cfg"))
    assert len(configs) == 82
    c = configs[0]
    assert c.n_atoms == 96 and c.cell.shape == (3, 3)
    assert sorted(np.bincount(c.types)) == [16, 16, 64]
    assert c.forces.shape == (96, 3) and c.plus_stress.shape == (6,) and c.energy < 0
    assert ("EFS_by", "VASP") in c.features


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("BEGIN_CFG\n Size\n 2\n AtomData: id type cartes_x cartes_y cartes_z\n 1 0 0 0 0\nEND_CFG\n", 6,
         "atom row has 1 values"),
        ("BEGIN_CFG\n Size\n 1\n AtomData: id type cartes_x cartes_y cartes_z\n 1 0 0 zero 0\nEND_CFG\n", 5,
         "non-number 'zero'"),
        ("BEGIN_CFG\n Size\n x\n", 3, "expected an integer"),
        ("BEGIN_CFG\n Size\n 1\n AtomData: id type cartes_x cartes_y cartes_z\n 1 0 0 0 0\n", 5, "file ends"),
        ("garbage\n", 1, "expected BEGIN_CFG"),
        ("BEGIN_CFG\n Size\n 1\n Bogus\nEND_CFG\n", 4, "unknown section"),
    ],
)
def test_cfg_errors_name_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "bad.cfg"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_cfg(path)
    assert f"bad.cfg:{line}" in str(err.value)
    assert fragment in str(err.value)


def test_mtp_templates_and_trained_round_trip(tmp_path):
    for name in ("mtp_templates/08.almtp", "mtp_templates/16.almtp", "mlip_reference/trained_L08.almtp",
                 "mlip_reference/random_L16.almtp"):
        pot = read_mtp(shared_path(*name.split("/")))
        write_mtp(tmp_path / "p.mtp", pot)
        back = read_mtp(tmp_path / "p.mtp")
        assert format_mtp(back) == format_mtp(pot)
        for field in ("radial_coeffs", "species_coeffs", "moment_coeffs"):
            x, y = getattr(pot, field), getattr(back, field)
            assert (x is None and y is None) or np.array_equal(x, y)
        assert back.scaling == pot.scaling and back.min_dist == pot.min_dist


def test_mtp_template_sizes():
    expected = {"06": (5, 8, 5), "16": (130, 350, 92), "28": (866, 17366, 2445)}
    for level, (nb, nm, ns) in expected.items():
        pot = read_mtp(shared_path("mtp_templates", f"{level}.almtp"))
        assert (pot.alpha_index_basic_count, pot.alpha_moments_count, pot.alpha_scalar_moments) == (nb, nm, ns)
        assert pot.level == int(level)


def test_mtp_skips_mlip3_binary_tail_and_keeps_metadata(tmp_path):
    pot = read_mtp(shared_path("mlip_reference", "trained_L08.almtp"))
    pot.species = ["Li", "Cl", "Al"]
    pot.metadata["training_set_sha256"] = "abc"
    text = format_mtp(pot).encode() + b"#MVS_v1.1\n\x00\x01\xff binary \x00\n"
    (tmp_path / "t.almtp").write_bytes(text)
    back = read_mtp(tmp_path / "t.almtp")
    assert back.species == ["Li", "Cl", "Al"] and back.metadata == {"training_set_sha256": "abc"}
    assert np.array_equal(back.moment_coeffs, pot.moment_coeffs)


def test_mtp_errors(tmp_path):
    good = format_mtp(read_mtp(shared_path("mlip_reference", "trained_L08.almtp")))
    cases = [
        (good.replace("species_count = 3", "species_count = 2"), "radial_coeffs has blocks"),
        (good.replace("radial_basis_size = 8", "radial_basis_size = 7"), "expected 2 rows of 7 numbers"),
        (good.replace("alpha_scalar_moments = 9", "alpha_scalar_moments = 8"), "alpha_scalar_moments = 8"),
        (good.replace("max_dist = 5", "max_dist = five"), "max_dist"),
        ("MTX\n", "not an MTP potential"),
        ("\n".join(line for line in good.splitlines() if not line.startswith("alpha_moment_mapping")),
         "missing field 'alpha_moment_mapping'"),
    ]
    for text, fragment in cases:
        (tmp_path / "bad.mtp").write_text(text)
        with pytest.raises(InputError, match="bad.mtp") as err:
            read_mtp(tmp_path / "bad.mtp")
        assert fragment in str(err.value), (fragment, str(err.value))
