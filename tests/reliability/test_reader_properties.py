"""Property-based tests (hypothesis) of the .cfg, .mtp, extended XYZ and LAMMPS dump readers
(issue 14):

- a round trip (write -> read) gives exactly the values written;
- a file cut at any byte, or with any one byte replaced, never gives an exception other than
  InputError, and never a silent partial read: the reader returns all items, or all but a
  truncated last frame with a warning saying so, or (for a cut) exactly the items before the cut
  when the cut falls between items (a shorter valid file, indistinguishable from one), or a
  clearly reported drop (a warning), or it raises InputError.

Example counts are bounded (settings below) so the module runs in well under a minute.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mtpflow.errors import InputError
from mtpflow.io.cfg import read_cfg, write_cfg
from mtpflow.io.mtp import parse_mtp, potential_bytes
from mtpflow.structures import Configuration

FEW = settings(max_examples=30, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
MANY = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

any_float = st.floats(allow_nan=False, allow_infinity=False, width=64)
coord = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False, width=64)
_WORD = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=8)
feature_name = _WORD.filter(lambda s: s.split() == [s])
feature_value = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
                        max_size=12).filter(lambda s: s == s.strip())


@st.composite
def configurations(draw):
    n = draw(st.integers(0, 5))
    periodic = draw(st.booleans())
    cell = None
    if periodic:
        cell = np.diag(draw(arrays(np.float64, 3, elements=st.floats(2.0, 50.0)))) + \
            draw(arrays(np.float64, (3, 3), elements=st.floats(-1.0, 1.0)))
    conf = Configuration(positions=draw(arrays(np.float64, (n, 3), elements=coord)),
                         types=draw(arrays(np.int64, n, elements=st.integers(0, 4))), cell=cell)
    if draw(st.booleans()):
        conf.energy = draw(any_float)
    if draw(st.booleans()):
        conf.forces = draw(arrays(np.float64, (n, 3), elements=any_float))
    if periodic and draw(st.booleans()):
        conf.plus_stress = draw(arrays(np.float64, 6, elements=any_float))
    if periodic and n and draw(st.booleans()):
        conf.direct = draw(arrays(np.float64, (n, 3), elements=st.floats(-2.0, 2.0)))
        conf.positions = conf.direct @ cell
    if draw(st.booleans()):
        conf.ids = draw(arrays(np.int64, n, elements=st.integers(1, 10 ** 9)))
    conf.features = draw(st.lists(st.tuples(feature_name, feature_value), max_size=3))
    return conf


def _same_config(a: Configuration, b: Configuration) -> None:
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.types, b.types)
    for name in ("cell", "forces", "plus_stress", "direct"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None and y is None) or np.array_equal(x, y), name
    assert a.energy == b.energy
    ids = a.ids if a.ids is not None else np.arange(1, a.n_atoms + 1)
    assert np.array_equal(ids, b.ids)
    assert a.features == b.features


@FEW
@given(configs=st.lists(configurations(), min_size=1, max_size=4), fixed=st.booleans())
def test_cfg_round_trip_is_exact(tmp_path, configs, fixed):
    path = tmp_path / "rt.cfg"
    write_cfg(path, configs, fixed_point=fixed)
    back = read_cfg(path)
    assert len(back) == len(configs)
    for a, b in zip(configs, back):
        _same_config(a, b)


def _block_ends(data: bytes, marker: bytes) -> list[int]:
    """Byte offsets just after each item (after the line holding `marker`)."""
    ends, k = [], 0
    while (k := data.find(marker, k)) >= 0:
        k = data.index(b"\n", k) + 1
        ends.append(k)
    return ends


@pytest.fixture(scope="module")
def cfg_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    configs = []
    for k in range(4):
        n = 3 + k
        c = Configuration(positions=rng.uniform(0, 6, (n, 3)), types=rng.integers(0, 3, n),
                          cell=np.eye(3) * 6 + rng.normal(0, 0.2, (3, 3)), energy=float(rng.normal()),
                          forces=rng.normal(size=(n, 3)), plus_stress=rng.normal(size=6),
                          features=[("EFS_by", "VASP")])
        configs.append(c)
    path = tmp_path_factory.mktemp("prop") / "good.cfg"
    write_cfg(path, configs)
    return configs, path.read_bytes()


def _read_cfg_bytes(tmp_path, data):
    path = tmp_path / "mut.cfg"
    path.write_bytes(data)
    try:
        return read_cfg(path)
    except InputError as exc:
        assert exc.path == str(path)
        return None


@MANY
@given(cut=st.integers(0, 10 ** 9))
def test_cut_cfg_is_an_error_or_the_configurations_before_the_cut(tmp_path, cfg_file, cut):
    configs, data = cfg_file
    k = cut % len(data)
    got = _read_cfg_bytes(tmp_path, data[:k])
    if got is None:
        return
    ends = _block_ends(data, b"END_CFG")
    m = len(got)
    assert m >= 1 and data[:k].rstrip() == data[:ends[m - 1]].rstrip(), "a partial read"
    for a, b in zip(configs, got):
        _same_config(a, b)


@MANY
@given(pos=st.integers(0, 10 ** 9), byte=st.integers(0, 255))
def test_one_changed_byte_in_a_cfg_never_reads_fewer_configurations(tmp_path, cfg_file, pos, byte):
    configs, data = cfg_file
    k = pos % len(data)
    if data[k] == byte:
        return
    got = _read_cfg_bytes(tmp_path, data[:k] + bytes([byte]) + data[k + 1:])
    assert got is None or len(got) == len(configs)


# ---------------------------------------------------------------- potentials
ELEMENTS = ["H", "Li", "Na", "Al", "Cl", "O", "Ti", "Zr"]


@st.composite
def potentials(draw):
    from mtpflow.mtp.init import init_potential

    level = draw(st.sampled_from([2, 4, 6, 8]))
    species = draw(st.lists(st.sampled_from(ELEMENTS), min_size=1, max_size=3, unique=True))
    pot = init_potential(level, species, 1.0, 5.0, radial_basis_size=draw(st.integers(2, 5)))
    if draw(st.booleans()):
        s, r, b = pot.species_count, pot.radial_funcs_count, pot.radial_basis_size
        pot.radial_coeffs = draw(arrays(np.float64, (s, s, r, b), elements=any_float))
        pot.species_coeffs = draw(arrays(np.float64, s, elements=any_float))
        pot.moment_coeffs = draw(arrays(np.float64, pot.alpha_scalar_moments, elements=any_float))
        pot.scaling = draw(st.floats(min_value=1e-300, max_value=1e300))
    pot.min_dist = draw(st.floats(0.0, 4.0))
    pot.max_dist = pot.min_dist + draw(st.floats(0.1, 10.0))
    pot.metadata = draw(st.dictionaries(feature_name, _WORD, max_size=2))
    return pot


@FEW
@given(pot=potentials())
def test_mtp_round_trip_is_exact(pot):
    back = parse_mtp(potential_bytes(pot))
    assert back.model_digest() == pot.model_digest()
    assert back.species == pot.species and back.metadata == pot.metadata
    assert back.is_trained == pot.is_trained


@pytest.fixture(scope="module")
def mtp_file():
    from tests.train.synth import random_potential

    pot = random_potential(6, species=2, seed=5)
    pot.species = ["Li", "Cl"]
    return pot, potential_bytes(pot)


def _parse_or_none(data):
    try:
        return parse_mtp(data, "mut.mtp")
    except InputError:
        return None


@MANY
@given(cut=st.integers(0, 10 ** 9))
def test_cut_mtp_is_an_error_or_the_whole_model(mtp_file, cut):
    pot, data = mtp_file
    got = _parse_or_none(data[:cut % len(data)])
    assert got is None or got.model_digest() == pot.model_digest()


@MANY
@given(pos=st.integers(0, 10 ** 9), byte=st.integers(0, 255))
def test_one_changed_byte_in_an_mtp_is_an_error_or_a_whole_valid_model(mtp_file, pos, byte):
    pot, data = mtp_file
    k = pos % len(data)
    if data[k] == byte:
        return
    got = _parse_or_none(data[:k] + bytes([byte]) + data[k + 1:])
    if got is not None:
        got.validate()
        assert got.is_trained and got.species_count == pot.species_count
        assert got.radial_coeffs.shape == pot.radial_coeffs.shape


# ---------------------------------------------------------------- trajectories
N_FRAMES, N_LI, N_CL = 6, 3, 2
BOX = np.diag([9.0, 10.0, 11.0])


def _r(x) -> str:
    return repr(float(x))          # every digit of the double


def _extxyz_text(pos):
    """Frames (T, N_LI + N_CL, 3) as extended XYZ with every digit of the doubles."""
    out = []
    lat = " ".join(repr(float(v)) for v in BOX.ravel())
    for t, frame in enumerate(pos):
        out.append(f"{len(frame)}\nLattice=\"{lat}\" Properties=species:S:1:pos:R:3 "
                   f"time_ps={0.01 * t!r} pbc=\"T T T\"\n")
        for i, p in enumerate(frame):
            out.append(f"{'Li' if i < N_LI else 'Cl'} {_r(p[0])} {_r(p[1])} {_r(p[2])}\n")
    return "".join(out)


def _dump_text(pos):
    """Frames as a LAMMPS dump with unwrapped columns xu yu zu (read back as written)."""
    out = []
    for t, frame in enumerate(pos):
        out.append(f"ITEM: TIMESTEP\n{100 * t}\nITEM: NUMBER OF ATOMS\n{len(frame)}\n"
                   "ITEM: BOX BOUNDS pp pp pp\n" + "".join(f"0 {_r(BOX[k, k])}\n" for k in range(3)) +
                   "ITEM: ATOMS id type xu yu zu\n")
        for i, p in enumerate(frame):
            out.append(f"{i + 1} {1 if i < N_LI else 2} {_r(p[0])} {_r(p[1])} {_r(p[2])}\n")
    return "".join(out)


frames_strategy = arrays(np.float64, (N_FRAMES, N_LI + N_CL, 3), elements=st.floats(0.5, 3.0))


def _readers(fmt):
    """name -> function(path) -> (positions (T, n, 3), warning texts) for the readers of fmt:
    the analysis reader (Li only, unwrapped) and read_frames (extxyz) or LammpsDump (dumps)."""
    from mtpflow.io.lammps_dump import LammpsDump
    from mtpflow.io.structure import read_frames
    from mtpflow.io.trajectory import read_species_trajectory

    def species(path):
        kw = {} if fmt == "extxyz" else {"frame_interval_fs": 100.0}
        return read_species_trajectory(path, "Li" if fmt == "extxyz" else "1", **kw).positions, []

    def frames(path):
        return np.array([a.positions for a in read_frames(path)]), []

    def dump(path):
        d = LammpsDump(path)
        return np.array([f.coords for f in d.frames()]), list(d.notes)

    return {"species": species, "frames" if fmt == "extxyz" else "dump": frames if fmt == "extxyz" else dump}


def _read(reader, path):
    """(positions, warnings) or None for an InputError naming the file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pos, notes = reader(path)
        except InputError as exc:
            assert exc.path == str(path), exc
            return None
    return pos, notes + [str(w.message) for w in caught]


@FEW
@given(pos=frames_strategy, fmt=st.sampled_from(["extxyz", "dump"]))
def test_trajectory_round_trip_is_exact(tmp_path, pos, fmt):
    path = tmp_path / f"rt.{fmt}"
    path.write_text(_extxyz_text(pos) if fmt == "extxyz" else _dump_text(pos))
    for name, reader in _readers(fmt).items():
        got, notes = _read(reader, path)
        assert not notes
        if name != "species":
            assert np.array_equal(got, pos)
        elif fmt == "dump":
            assert np.array_equal(got, pos[:, :N_LI])       # unwrapped columns pass through
        else:                                               # unwrapped in fractional coordinates
            np.testing.assert_allclose(got, pos[:, :N_LI], rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def traj_files():
    rng = np.random.default_rng(3)
    pos = rng.uniform(0.5, 3.0, (N_FRAMES, N_LI + N_CL, 3))
    return pos, {"extxyz": _extxyz_text(pos).encode(), "dump": _dump_text(pos).encode()}


def _frame_ends(data: bytes, fmt: str) -> list[int]:
    per = (N_LI + N_CL) + (2 if fmt == "extxyz" else 9)
    ends, k = [], 0
    for i, ln in enumerate(data.splitlines(keepends=True), 1):
        k += len(ln)
        if i % per == 0:
            ends.append(k)
    return ends


def _reported(notes) -> bool:
    return any(w in " ".join(notes) for w in ("truncated", "goes back", "dropped"))


def _check_cut(tmp_path, pos, data, k, fmt):
    path = tmp_path / f"cut.{fmt}"
    path.write_bytes(data[:k])
    for name, reader in _readers(fmt).items():
        got = _read(reader, path)
        if got is None:
            continue
        frames, notes = got
        n = len(frames)
        if n:
            want = pos[:n, :N_LI] if name == "species" else pos[:n]
            np.testing.assert_allclose(frames, want, rtol=0, atol=1e-12)   # the values written
        if n < N_FRAMES and not _reported(notes):   # silently fewer: only a cut between frames
            end = _frame_ends(data, fmt)[n - 1] if n else 0
            assert data[:k].rstrip() == data[:end].rstrip(), f"{name}: a partial read of {n} frames"


def _check_changed(tmp_path, data, fmt):
    path = tmp_path / f"changed.{fmt}"
    path.write_bytes(data)
    for name, reader in _readers(fmt).items():
        got = _read(reader, path)
        if got is not None:
            frames, notes = got
            assert len(frames) == N_FRAMES or _reported(notes), \
                f"{name}: {len(frames)} of {N_FRAMES} frames without a warning"


@MANY
@given(cut=st.integers(0, 10 ** 9), fmt=st.sampled_from(["extxyz", "dump"]))
def test_cut_trajectory_is_an_error_the_frames_before_or_a_reported_drop(tmp_path, traj_files, cut, fmt):
    pos, files = traj_files
    _check_cut(tmp_path, pos, files[fmt], cut % len(files[fmt]), fmt)


@MANY
@given(where=st.integers(0, 10 ** 9), byte=st.integers(0, 255), fmt=st.sampled_from(["extxyz", "dump"]))
def test_one_changed_byte_in_a_trajectory_never_reads_fewer_frames_silently(tmp_path, traj_files, where,
                                                                             byte, fmt):
    pos, files = traj_files
    data = files[fmt]
    k = where % len(data)
    if data[k] != byte:
        _check_changed(tmp_path, data[:k] + bytes([byte]) + data[k + 1:], fmt)
