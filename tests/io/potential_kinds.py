"""Every kind of potential file mtpflow writes, made through the CLI as a user would, for the
interoperability tests (tests/io/test_mtp_interop.py: MLIP-3's rules; tests/mtp/test_motep_client.py:
motep as a reader and as a second engine).

KINDS maps a name to a builder; each builder writes one file into the folder it is given and returns a
Written record. To cover a new writer (as the upgraded potentials of `init-mtp --from` are), add one
builder here: both test modules pick it up. Builders that need ../shared/data skip their test
(through shared_path) where it is absent; the others need nothing but mtpflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtpflow.cli import main
from mtpflow.io.cfg import write_cfg
from mtpflow.io.mtp import format_mtp, read_mtp, write_mtp
from tests.conftest import shared_path

# A stand-in for MLIP-3's active-learning state: its header lines, then binary data holding '#' bytes
# and bytes that are not UTF-8 (as the real block has).
FAKE_SELECTION = (b"#MVS_v1.1\nenergy_weight 1.0000000000000000e+00\nforce_weight 0.0000000000000000e+00\n"
                  b"stress_weight 0.0000000000000000e+00\nsite_en_weight 0.0000000000000000e+00\n"
                  b"weight_scaling 2\n#\x00\x01\xfe\xff#binary\x80\x81 = x\n\x00#MV")


@dataclass
class Written:
    path: Path
    species: list[str] | None  # the element order the file must carry
    block: bytes | None  # MLIP-3 block the file must end with (from its first '#'), or None: no '#'
    trained: bool  # has coefficients (motep and calc-efs can evaluate it)
    motep_readable: bool = True  # False where the file keeps MLIP-3's binary block


def old_format_bytes(pot) -> bytes:
    """A potential as mtpflow 0.1 wrote it: metadata as trailing '#mtpflow key = value' lines."""
    bare = pot.copy()
    bare.species, bare.metadata = None, {}
    lines = [f"#mtpflow species = {','.join(pot.species)}"] if pot.species else []
    lines += [f"#mtpflow {k} = {v}" for k, v in pot.metadata.items()]
    return (format_mtp(bare) + "".join(line + "\n" for line in lines)).encode()


def _run(*argv) -> None:
    code = main([str(a) for a in argv])
    assert code == 0, f"mtpflow {' '.join(map(str, argv))} exited with {code}"


def _template(d: Path, level: int) -> Written:
    out = d / f"template_L{level:02d}.almtp"
    _run("init-mtp", "--level", level, "--species", "Li,Al,Cl", "--min-dist", 1.9, "--max-dist", 5.0,
         "--out", out)
    return Written(out, ["Li", "Al", "Cl"], None, trained=False)


def _random(d: Path) -> Written:
    out = d / "random_L08.mtp"
    _run("init-mtp", "--level", 8, "--species", "Li,Cl,Al", "--min-dist", 1.6, "--max-dist", 4.8,
         "--random-coeffs", "--seed", 3, "--out", out)
    return Written(out, ["Li", "Cl", "Al"], None, trained=True)


def _from_template(d: Path) -> Written:
    tpl = _template(d, 10).path
    out = d / "from_template.mtp"
    _run("init-mtp", "--from-template", tpl, "--species", "Li,Cl", "--min-dist", 2.0, "--max-dist", 5.5,
         "--random-coeffs", "--seed", 4, "--out", out)
    return Written(out, ["Li", "Cl"], None, trained=True)


def training_files(d: Path) -> tuple[Path, Path]:
    """(initial template, training set) of a small synthetic level-6 problem, written once."""
    from tests.train.synth import label_with, random_configs, random_potential, template

    init, train = d / "train_init.mtp", d / "train_set.cfg"
    if not train.exists():
        truth = random_potential(6, seed=21)
        write_cfg(train, label_with(truth, random_configs(5, seed=22), noise=0.01))
        write_mtp(init, template(6))
    return init, train


def _trained(d: Path) -> Written:
    init, train = training_files(d)
    out = d / "trained.almtp"
    _run("train", init, train, "--out", out, "--species", "Li,Cl,Al", "--max-iter", 3)
    return Written(out, ["Li", "Cl", "Al"], None, trained=True)


def _upgraded(d: Path) -> Written:
    """init-mtp --from: the trained level-6 potential upgraded to level 10 (same function)."""
    out = d / "upgraded_L10.mtp"
    _run("init-mtp", "--level", 10, "--from", _trained(d).path, "--out", out)
    return Written(out, ["Li", "Cl", "Al"], None, trained=True)


def _upgraded_mlip_l08(d: Path) -> Written:
    """init-mtp --from MLIP-3's own trained_L08 (its MLIP-3 block) to level 12: block left out."""
    out = d / "mlip_upgraded_L12.mtp"
    _run("init-mtp", "--level", 12, "--from", shared_path("mlip_reference", "trained_L08.almtp"),
         "--species", "Li,Cl,Al", "--out", out)
    return Written(out, ["Li", "Cl", "Al"], None, trained=True)


def _retrained_from_mlip_state(d: Path) -> Written:
    """A trained potential that carries an MLIP-3 block, trained further: the block is stale."""
    src = d / "with_block.almtp"
    src.write_bytes(_trained(d).path.read_bytes() + FAKE_SELECTION)
    _, train = training_files(d)
    out = d / "retrained.almtp"
    _run("train", src, train, "--out", out, "--max-iter", 2)
    return Written(out, ["Li", "Cl", "Al"], None, trained=True)


def _old_format_converted(d: Path) -> Written:
    pot = read_mtp(_random(d).path)
    pot.metadata["training_set_hash"] = "0123abcd"
    src = d / "old_format.mtp"
    src.write_bytes(old_format_bytes(pot))
    out = d / "old_format_rewritten.mtp"
    _run("convert", src, out)
    return Written(out, ["Li", "Cl", "Al"], None, trained=True)


def _relabelled_with_block(d: Path) -> Written:
    """An unnamed trained potential with an MLIP-3 block, given its element order: block kept."""
    pot = read_mtp(_random(d).path)
    pot.species, pot.metadata = None, {}
    src = d / "mlip_like.almtp"
    src.write_bytes(format_mtp(pot).encode() + FAKE_SELECTION)
    out = d / "mlip_like_relabelled.almtp"
    _run("convert", src, out, "--species", "Li,Cl,Al")
    return Written(out, ["Li", "Cl", "Al"], FAKE_SELECTION, trained=True, motep_readable=False)


def _deck_inputs(d: Path) -> tuple[Path, Path]:
    """(start structure, protocol) for lammps-deck."""
    from ase import Atoms

    rng = np.random.default_rng(5)
    grid = np.array([(i, j, k) for i in range(3) for j in range(3) for k in range(3)], float)[:24]
    atoms = Atoms(["Li"] * 4 + ["Al"] * 4 + ["Cl"] * 16, positions=grid * 2.6 + rng.normal(0, 0.05, (24, 3)),
                  cell=[7.8] * 3, pbc=True)
    start, proto = d / "deck_start.extxyz", d / "deck_protocol.yaml"
    atoms.write(start)
    proto.write_text("timestep_fs: 1.0\nthermo_every: 10\ntraj_every: 10\ncheckpoint_every: 50\nseed: 1\n"
                     "stages:\n  - {type: melt, temperature_K: 600, steps: 20}\n")
    return start, proto


def _lammps_deck_potential(d: Path) -> Written:
    """The potential lammps-deck writes beside its deck, from a file in the old format."""
    src = d / "deck_source.mtp"
    src.write_bytes(old_format_bytes(read_mtp(_old_format_converted(d).path)))
    start, proto = _deck_inputs(d)
    _run("lammps-deck", src, start, "--protocol", proto, "--outdir", d / "deck")
    return Written(d / "deck" / "potential.mtp", ["Li", "Cl", "Al"], None, trained=True)


def _deck_with_block(d: Path) -> Written:
    """lammps-deck of a potential with an MLIP-3 block: same model, so the block is kept."""
    start, proto = _deck_inputs(d)
    _run("lammps-deck", _relabelled_with_block(d).path, start, "--protocol", proto, "--outdir", d / "deck")
    return Written(d / "deck" / "potential.almtp", ["Li", "Cl", "Al"], FAKE_SELECTION, trained=True,
                   motep_readable=False)


def _template_from_block_file(d: Path) -> Written:
    """init-mtp --from-template of a trained potential with an MLIP-3 block: coefficients gone."""
    src = _relabelled_with_block(d).path
    out = d / "template_from_block.mtp"
    _run("init-mtp", "--from-template", src, "--species", "Li,Cl,Al", "--min-dist", 1.9, "--max-dist", 5.0,
         "--out", out)
    return Written(out, ["Li", "Cl", "Al"], None, trained=False)


def _library_odd_metadata(d: Path) -> Written:
    """write_mtp of a potential whose name, tag and metadata hold '#', '=', ';', spaces and '%'."""
    pot = read_mtp(_random(d).path)
    pot.potential_name = "my pot#1"
    pot.potential_tag = "tag = #x"
    pot.metadata.update({"note": "a#b = c; d%e", "key with space": "ü"})
    out = d / "odd_metadata.mtp"
    write_mtp(out, pot)
    return Written(out, ["Li", "Cl", "Al"], None, trained=True)


def _mlip_random_l16(d: Path) -> Written:
    out = d / "mlip_random_L16.almtp"
    _run("convert", shared_path("mlip_reference", "random_L16.almtp"), out, "--species", "Li,Cl,Al")
    return Written(out, ["Li", "Cl", "Al"], None, trained=True)


def _mlip_trained_l08(d: Path) -> Written:
    src = shared_path("mlip_reference", "trained_L08.almtp")
    raw = src.read_bytes()
    out = d / "mlip_trained_L08.almtp"
    _run("convert", src, out, "--species", "Li,Cl,Al")
    return Written(out, ["Li", "Cl", "Al"], raw[raw.index(b"#"):], trained=True, motep_readable=False)


def _mlip_trained_l08_dropped(d: Path) -> Written:
    out = d / "mlip_trained_L08_for_motep.mtp"
    _run("convert", shared_path("mlip_reference", "trained_L08.almtp"), out, "--species", "Li,Cl,Al",
         "--drop-selection")
    return Written(out, ["Li", "Cl", "Al"], None, trained=True)


KINDS: dict[str, Callable[[Path], Written]] = {
    "init-mtp L06": lambda d: _template(d, 6),
    "init-mtp L10": lambda d: _template(d, 10),
    "init-mtp L16": lambda d: _template(d, 16),
    "init-mtp random L08": _random,
    "init-mtp from-template": _from_template,
    "train": _trained,
    "train from a file with an MLIP-3 block": _retrained_from_mlip_state,
    "init-mtp --from (upgraded)": _upgraded,
    "init-mtp --from MLIP trained_L08 (upgraded)": _upgraded_mlip_l08,
    "convert old #mtpflow format": _old_format_converted,
    "convert relabel, MLIP-3 block kept": _relabelled_with_block,
    "lammps-deck potential": _lammps_deck_potential,
    "lammps-deck potential, MLIP-3 block kept": _deck_with_block,
    "init-mtp from-template of a file with an MLIP-3 block": _template_from_block_file,
    "write_mtp odd metadata": _library_odd_metadata,
    "MLIP random_L16 relabelled": _mlip_random_l16,
    "MLIP trained_L08 relabelled": _mlip_trained_l08,
    "MLIP trained_L08 --drop-selection": _mlip_trained_l08_dropped,
}
UNTRAINED = {"init-mtp L06", "init-mtp L10", "init-mtp L16",
             "init-mtp from-template of a file with an MLIP-3 block"}  # templates: nothing to evaluate
TRAINED = [k for k in KINDS if k not in UNTRAINED]


def build(kind: str, folder: Path) -> Written:
    """Write the kind into its own subfolder of `folder`."""
    d = folder / "".join(c if c.isalnum() else "_" for c in kind)
    d.mkdir(parents=True, exist_ok=True)
    return KINDS[kind](d)
