"""A corpus of malformed and edge-case inputs for every reader, and the verbs to run on each (issue 14).

    python -m tests.reliability.corpus DIR      writes the corpus into DIR and lists the cases

`build(root, shared)` writes small good inputs (self-made: a potential, .cfg sets, structures,
trajectories, dumps, LAMMPS logs, protocols, VASP outputs, checkpoints), derives damaged variants
of each (cut, one byte or value changed, a section repeated, ...), adds variants of the real VASP
samples in `shared`/vasp_samples when that folder exists, and returns one Case per (file, verb):
the command line, the exit status expected and what must hold afterwards. Every case writes into
its own folder out/<id>/, which must not exist after a failure (nothing left behind);
tests/reliability/test_corpus.py runs them all.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPECIES = "Li,Al,Cl"


@dataclass
class Case:
    id: str
    argv: list
    rc: int                         # exit status expected: 0, or 2 (one clear error)
    names: str | None = None        # what the error must name: a file (path text) or an option
    line: int | None = None         # the line the error must name (as path:line)
    count: tuple | None = None      # usable input: (output file, kind "cfg"|"extxyz"|"csv"|"json", n)
    warns: str | None = None        # text a warning must hold (usable input with a dropped part)
    tags: set = field(default_factory=set)   # "slow" for the cases that train or run MD

    def text(self) -> str:
        return " ".join(str(a) for a in self.argv)


# ------------------------------------------------------------------------------------- writers
def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _variant(root: Path, name: str, text=None, data: bytes | None = None) -> Path:
    p = root / name
    if data is not None:
        p.write_bytes(data)
    else:
        p.write_text("".join(text) if isinstance(text, list) else text)
    return p


def _base_files(root: Path) -> dict:
    """Good inputs, self-made (no shared data)."""
    from ase.io import write

    from mtpflow.analysis.synthetic import brownian, wrap
    from mtpflow.io.cfg import write_cfg
    from mtpflow.io.mtp import write_mtp
    from mtpflow.mtp.init import init_potential
    from tests.analysis.conftest import ORTHO, write_dump, write_extxyz
    from tests.md.conftest import small_lialcl4
    from tests.train.synth import label_with, random_configs, random_potential

    f = {}
    pot = random_potential(6, species=3, seed=3, radial=0.002, moment=0.05)
    pot.species = SPECIES.split(",")
    write_mtp(root / "pot.mtp", pot)
    write_mtp(root / "template.mtp", init_potential(6, SPECIES.split(","), 1.5, 4.5, 6))
    configs = label_with(pot, random_configs(5, seed=4), noise=0.01)
    write_cfg(root / "ref.cfg", configs)
    write(root / "start.extxyz", small_lialcl4(2), format="extxyz")
    pos = brownian(40, 6, 0.5, 0.01, ORTHO, seed=3)
    write_extxyz(root / "traj.extxyz", wrap(pos, ORTHO), ORTHO)
    write_dump(root / "traj.dump", wrap(pos, ORTHO), ORTHO, mode="x", n_other=4)
    write_dump(root / "traj_el.dump", pos, ORTHO, mode="xu", element=True, n_other=4)
    (root / "md.log").write_text(LAMMPS_LOG)
    (root / "protocol.yaml").write_text(PROTOCOL)
    (root / "vasprun.xml").write_text(vasprun_text(4))
    (root / "OUTCAR").write_text(outcar_text(4))
    for k in ("pot.mtp", "template.mtp", "ref.cfg", "start.extxyz", "traj.extxyz", "traj.dump",
              "traj_el.dump", "md.log", "protocol.yaml", "vasprun.xml", "OUTCAR"):
        f[k] = root / k
    f["n_configs"] = len(configs)
    _checkpoints(root, f)
    return f


def _checkpoints(root: Path, f: dict) -> None:
    """A real train and md checkpoint (written by the verbs) and damaged copies of each."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from mtpflow.cli import main

    runs = {"train_ck.npz": ["train", f["template.mtp"], f["ref.cfg"], "--out", root / "ck.mtp",
                             "--max-iter", "2", "--checkpoint", root / "train_ck.npz"],
            "md_ck.npz": ["md", f["pot.mtp"], f["start.extxyz"], "--ensemble", "nvt",
                          "--temperature-K", "200", "--steps", "2", "--timestep-fs", "0.5",
                          "--threads", "1", "--traj", root / "ck_t.extxyz", "--thermo", root / "ck_t.csv",
                          "--checkpoint", root / "md_ck.npz"]}
    for name, argv in runs.items():
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
            rc = main([str(a) for a in argv])
        assert rc == 0, err.getvalue()
        f[name] = root / name
        raw = (root / name).read_bytes()
        stem = name[:-4]
        f[f"{stem}_damaged"] = {
            "empty": _variant(root, f"{stem}_empty.npz", data=b""),
            "half": _variant(root, f"{stem}_half.npz", data=raw[:len(raw) // 2]),
            "tail_cut": _variant(root, f"{stem}_tail_cut.npz", data=raw[:-10]),
            "text": _variant(root, f"{stem}_text.npz", "not a checkpoint\n"),
            "flipped": _variant(root, f"{stem}_flipped.npz", data=_flip_in_data(root / name))}


def _flip_in_data(path: Path) -> bytes:
    """The archive with one bit changed in the stored numbers of its largest entry."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.compress_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len + info.compress_size - 20] ^= 0x01
    return bytes(raw)


LAMMPS_LOG = """LAMMPS (29 Aug 2024)
Step Time Temp PotEng KinEng TotEng Press Volume
         0   0       1000   -10.5   2.0   -8.5   10000   1000.0
        10   0.01     900   -10.0   1.8   -8.2   20000   1000.0
        20   0.02     800    -9.5   1.6   -7.9   30000   1000.0
        30   0.03     700    -9.0   1.4   -7.6   40000   1000.0
Loop time of 0.1 on 1 procs for 30 steps with 6 atoms
"""

PROTOCOL = """timestep_fs: 0.5
thermo_every: 2
traj_every: 2
seed: 1
stages:
  - {type: melt, temperature_K: 300, steps: 4}
  - {type: quench, start_K: 300, end_K: 200, steps: 2}
  - {type: production, temperature_K: 200, steps: 2}
"""


def vasprun_text(n_steps: int, cut_inside_last: bool = False) -> str:
    """A small vasprun.xml (Li2Cl2, MD, IBRION=0) with n_steps ionic steps."""
    rng = np.random.default_rng(5)
    cell = "\n".join(f"     <v> {' '.join(f'{x:.6f}' for x in row)} </v>" for row in np.eye(3) * 5)
    head = ("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<modeling>\n <incar>\n"
            "  <i type=\"int\" name=\"IBRION\">     0</i>\n  <i name=\"POTIM\">      2.00</i>\n"
            " </incar>\n <atominfo>\n  <atoms>       4 </atoms>\n  <array name=\"atoms\" >\n"
            "   <set>\n" + "".join(f"    <rc><c>{s} </c><c>   {t}</c></rc>\n"
                                  for s, t in (("Li", 1), ("Li", 1), ("Cl", 2), ("Cl", 2))) +
            "   </set>\n  </array>\n </atominfo>\n")
    steps = []
    for k in range(n_steps):
        pos = "\n".join(f"     <v> {' '.join(f'{x:.8f}' for x in rng.uniform(0, 1, 3))} </v>"
                        for _ in range(4))
        frc = "\n".join(f"   <v> {' '.join(f'{x:.6f}' for x in rng.normal(0, 0.5, 3))} </v>"
                        for _ in range(4))
        stress = "\n".join(f"   <v> {' '.join(f'{x:.6f}' for x in row)} </v>"
                           for row in np.diag(rng.normal(0, 5, 3)))
        e = -10.0 + 0.1 * k
        steps.append(
            f" <calculation>\n  <structure>\n   <crystal>\n    <varray name=\"basis\" >\n{cell}\n"
            f"    </varray>\n   </crystal>\n   <varray name=\"positions\" >\n{pos}\n   </varray>\n"
            f"  </structure>\n  <varray name=\"forces\" >\n{frc}\n  </varray>\n"
            f"  <varray name=\"stress\" >\n{stress}\n  </varray>\n  <energy>\n"
            f"   <i name=\"e_fr_energy\">    {e:.8f} </i>\n   <i name=\"e_wo_entrp\">    {e:.8f} </i>\n"
            f"   <i name=\"e_0_energy\">    {e:.8f} </i>\n  </energy>\n </calculation>\n")
    text = head + "".join(steps)
    if cut_inside_last:
        return text[:len(text) - len(steps[-1]) // 2]
    return text + "</modeling>\n"


def outcar_text(n_steps: int) -> str:
    """A small OUTCAR (Li2Cl2, MD) with n_steps completed ionic steps."""
    rng = np.random.default_rng(6)
    out = [" POTCAR:    PAW_PBE Li_sv 10Sep2004\n", " POTCAR:    PAW_PBE Cl 06Sep2000\n",
           "   ions per type =               2   2\n", "   IBRION =      0    ionic relax\n",
           "   POTIM  = 2.0000    time-step for ionic-motion\n"]
    for k in range(n_steps):
        out += ["  direct lattice vectors                 reciprocal lattice vectors\n"]
        out += [f"     {' '.join(f'{x:12.9f}' for x in row)}     0.2 0.0 0.0\n" for row in np.eye(3) * 5]
        out += ["  FORCE on cell =-STRESS in cart. coord.  units (eV):\n",
                "  in kB  " + " ".join(f"{x:11.5f}" for x in rng.normal(0, 5, 6)) + "\n",
                " POSITION                                       TOTAL-FORCE (eV/Angst)\n",
                " " + "-" * 83 + "\n"]
        out += ["  " + " ".join(f"{x:12.5f}" for x in rng.uniform(0, 5, 3)) + "   " +
                " ".join(f"{x:12.6f}" for x in rng.normal(0, 0.5, 3)) + "\n" for _ in range(4)]
        out += [" " + "-" * 83 + "\n", "  free  energy   TOTEN  =       " + f"{-10 + 0.1 * k:.8f} eV\n",
                "\n", f"  energy  without entropy=      {-10 + 0.1 * k:.8f}  energy(sigma->0) =      "
                f"{-10 + 0.1 * k:.8f}\n"]
    return "".join(out)


# ------------------------------------------------------------------------------------- variants
def cfg_variants(root: Path, good: Path) -> list[tuple[str, Path, int | None]]:
    """(name, file, line the error names or None)."""
    lines = _lines(good)
    first_end = next(i for i, ln in enumerate(lines) if ln.strip() == "END_CFG")
    energy = next(i for i, ln in enumerate(lines) if ln.strip() == "Energy")
    atom = next(i for i, ln in enumerate(lines) if ln.strip().startswith("AtomData")) + 2
    out = [("empty", _variant(root, "empty.cfg", ""), None),
           ("binary", _variant(root, "binary.cfg", data=bytes(range(256)) * 4), None),
           ("cut_mid_config", _variant(root, "cut.cfg", lines[:atom + 1]), None),
           ("no_end", _variant(root, "no_end.cfg", lines[:first_end] + lines[first_end + 1:]),
            first_end + 2)]
    rep = lines[:first_end] + lines[energy:energy + 2] + lines[first_end:]
    out.append(("energy_twice", _variant(root, "energy_twice.cfg", rep), first_end + 1))
    bad = list(lines)
    bad[atom] = bad[atom].replace(bad[atom].split()[1], "7.5", 1)
    out.append(("bad_type", _variant(root, "bad_type.cfg", bad), atom + 1))
    bad = list(lines)
    parts = bad[atom].split()
    parts[3] = "x1"
    bad[atom] = "   " + " ".join(parts) + "\n"
    out.append(("non_number", _variant(root, "non_number.cfg", bad), atom + 1))
    bad = list(lines)
    bad[atom] = bad[atom].rstrip("\n") + " 1.0\n"
    out.append(("extra_value", _variant(root, "extra_value.cfg", bad), atom + 1))
    bad = list(lines)
    parts = bad[atom].split()
    parts[2] = "nan"
    bad[atom] = "   " + " ".join(parts) + "\n"
    out.append(("nan_position", _variant(root, "nan_position.cfg", bad), atom + 1))
    cell = next(i for i, ln in enumerate(lines) if ln.strip() == "Supercell")
    bad = list(lines)
    bad[cell + 3] = bad[cell + 1]
    out.append(("singular_cell", _variant(root, "singular_cell.cfg", bad), cell + 1))
    bad = list(lines)
    bad.insert(3, " Comment here\n")
    out.append(("unknown_section", _variant(root, "unknown_section.cfg", bad), 4))
    bad = list(lines)
    bad[1:3] = [" Size\n", "    -3\n"]
    out.append(("negative_size", _variant(root, "negative_size.cfg", bad), 3))
    bad = list(lines)
    bad[1:3] = [" Size\n", "    1000000000000\n"]
    out.append(("huge_size", _variant(root, "huge_size.cfg", bad), None))
    ps = next(i for i, ln in enumerate(lines) if ln.strip().startswith("PlusStress"))
    bad = list(lines)
    bad[ps + 1] = " ".join(bad[ps + 1].split()[:5]) + "\n"
    out.append(("stress_5_values", _variant(root, "stress_5_values.cfg", bad), ps + 2))
    return out


def mtp_variants(root: Path, good: Path) -> list[tuple[str, Path, int | None]]:
    text = good.read_text()
    lines = text.splitlines(keepends=True)

    def replace(key, value):
        k = next(i for i, ln in enumerate(lines) if ln.strip().startswith(key + " ="))
        indent = lines[k][:len(lines[k]) - len(lines[k].lstrip())]
        return lines[:k] + [f"{indent}{key} = {value}\n"] + lines[k + 1:], k + 1

    out = [("empty", _variant(root, "empty.mtp", ""), None),
           ("not_mtp", _variant(root, "not_mtp.mtp", "hello\n"), 1),
           ("cut_half", _variant(root, "cut_half.mtp", text[:len(text) // 2]), None),
           ("binary", _variant(root, "binary.mtp", data=b"MTP\n" + bytes(range(256))), None)]
    for name, key, value, at_line in (
            ("scaling_nan", "scaling", "nan", True), ("scaling_zero", "scaling", "0", True),
            ("min_dist_bad", "min_dist", "9.0", False), ("max_dist_inf", "max_dist", "inf", True),
            ("species_zero", "species_count", "0", False),
            ("species_huge", "species_count", "100000", False),
            ("basis_size_text", "radial_basis_size", "eight", True),
            ("moment_count", "alpha_moments_count", "1", False),
            ("mapping_out_of_range", "alpha_moment_mapping", "{0, 99999}", False)):
        new, line = replace(key, value)
        out.append((name, _variant(root, f"{name}.mtp", new), line if at_line else None))
    k = next(i for i, ln in enumerate(lines) if ln.strip().startswith("{") and "," in ln)
    bad = list(lines)
    bad[k] = re.sub(r",[^,{}]*\}", "}", bad[k], count=1)     # the row loses its last number
    out.append(("radial_row_short", _variant(root, "radial_row_short.mtp", bad), None))
    bad = list(lines)
    bad[k] = bad[k].replace(",", ", abc,", 1)
    out.append(("radial_non_number", _variant(root, "radial_non_number.mtp", bad), k + 1))
    k = next(i for i, ln in enumerate(lines) if ln.startswith("moment_coeffs"))
    bad = list(lines)
    bad[k] = re.sub(r"\{[^,]*,", "{nan,", bad[k], count=1)
    out.append(("moment_nan", _variant(root, "moment_nan.mtp", bad), None))
    cut = [ln for ln in lines if not ln.startswith("moment_coeffs")]     # cut before its last line
    out.append(("no_moment_coeffs", _variant(root, "no_moment_coeffs.mtp", cut), None))
    return out


def extxyz_variants(root: Path, good: Path, n_atoms: int) -> dict:
    """name -> (file, line or None, frames read when usable or None)."""
    lines = _lines(good)
    fl = n_atoms + 2
    n_frames = len(lines) // fl
    s = 10 * fl
    out = {"empty": (_variant(root, "empty.extxyz", ""), None, None)}
    bad = list(lines)
    del bad[s + 4]
    out["short_mid"] = (_variant(root, "short_mid.extxyz", bad), s + 1, None)
    bad = list(lines)
    bad[s + 2] = bad[s + 2].rstrip("\n") + " 0.1\n"
    out["extra_value"] = (_variant(root, "extra_value.extxyz", bad), s + 3, None)
    bad = list(lines)
    parts = bad[s + 2].split()                 # the first atom line: Li (selected by analyze)
    parts[2] = "nan"
    bad[s + 2] = " ".join(parts) + "\n"
    out["nan_position"] = (_variant(root, "nan_position.extxyz", bad), s + 3, None)
    out["truncated_last"] = (_variant(root, "truncated_last.extxyz", lines[:-3]), None, n_frames - 1)
    out["cut_mid_number"] = (_variant(root, "cut_mid_number.extxyz", "".join(lines)[:-5]), None,
                             n_frames - 1)
    bad = list(lines)
    bad[s + 1] = bad[s + 1].replace("Lattice=", "Lattixe=")
    out["no_lattice"] = (_variant(root, "no_lattice.extxyz", bad), s + 2, None)
    out["binary"] = (_variant(root, "binary.extxyz", data=b"12\n\xff\xfe" + bytes(range(256))), None,
                     None)
    return out


def dump_variants(root: Path, good: Path, n_atoms: int) -> dict:
    lines = _lines(good)
    fl = 9 + n_atoms
    n_frames = len(lines) // fl
    s = 10 * fl
    out = {}
    bad = list(lines)
    del bad[s + 9 + 2]
    out["short_mid"] = (_variant(root, f"short_mid_{good.stem}.dump", bad), s + 1, None)
    bad = list(lines)
    bad[s + 9 + 2] = bad[s + 9 + 2].rstrip("\n") + " 7\n"
    out["extra_value"] = (_variant(root, f"extra_value_{good.stem}.dump", bad), s + 12, None)
    bad = list(lines)
    bad[s + 1] = "abc\n"
    out["bad_timestep"] = (_variant(root, f"bad_timestep_{good.stem}.dump", bad), s + 2, None)
    bad = list(lines)
    parts = bad[s + 9].split()
    parts[-1] = "nan"
    bad[s + 9] = " ".join(parts) + "\n"
    out["nan_position"] = (_variant(root, f"nan_position_{good.stem}.dump", bad), s + 10, None)
    # a job killed after frame 29 and restarted from the restart file of frame 20 (twice written)
    out["restarted"] = (_variant(root, f"restarted_{good.stem}.dump", lines[:30 * fl] + lines[20 * fl:]),
                        None, n_frames)
    out["killed_mid_frame_restarted"] = (
        _variant(root, f"killed_restarted_{good.stem}.dump", lines[:30 * fl + 12] + lines[20 * fl:]),
        None, n_frames)
    out["truncated_last"] = (_variant(root, f"truncated_last_{good.stem}.dump", lines[:-3]), None,
                             n_frames - 1)
    bad = list(lines)
    bad[s + 1] = f"{int(bad[s + 1]) + 900}\n"       # one damaged TIMESTEP, not a restart
    out["timestep_outlier"] = (_variant(root, f"timestep_outlier_{good.stem}.dump", bad), s + 2, None)
    bad = list(lines)
    k = (n_frames - 1) * fl + 1
    bad[k] = f"{int(bad[k]) - 500}\n"                  # the last frame goes back: skipped, named
    out["last_goes_back"] = (_variant(root, f"last_goes_back_{good.stem}.dump", bad), None, n_frames - 1)
    out["empty"] = (_variant(root, f"empty_{good.stem}.dump", ""), None, None)
    return out


def log_variants(root: Path, good: Path) -> dict:
    lines = _lines(good)
    out = {"empty": (_variant(root, "empty.log", ""), None, None),
           "no_thermo": (_variant(root, "no_thermo.log", "LAMMPS\nERROR: Unknown pair style\n"), None,
                         None)}
    bad = list(lines)
    bad[3] = bad[3].replace("900", "9x0", 1)
    out["bad_row"] = (_variant(root, "bad_row.log", bad), 4, None)
    bad = list(lines)
    bad[3] = " ".join(bad[3].split()[:5]) + "\n"
    out["short_row"] = (_variant(root, "short_row.log", bad), 4, None)
    bad = list(lines)
    bad.insert(3, "WARNING: Angle atoms missing (src/ntopo.cpp:123)\n")
    out["warning_inside"] = (_variant(root, "warning_inside.log", bad), None, 4)
    out["killed"] = (_variant(root, "killed.log", "".join(lines[:6])[:-12]), None, 3)
    return out


PROTOCOL_BAD = {
    "not_yaml": ("stages: [\n", None),
    "no_stages": ("timestep_fs: 1.0\n", None),
    "unknown_key": ("timestep: 1.0\nstages: [{type: melt, temperature_K: 300, steps: 4}]\n", None),
    "negative_time": ("stages: [{type: melt, temperature_K: 300, time_ps: -1}]\n", None),
    "nan_temperature": ("stages: [{type: melt, temperature_K: .nan, steps: 4}]\n", None),
    "zero_timestep": ("timestep_fs: 0\nstages: [{type: melt, temperature_K: 300, steps: 4}]\n", None),
    "huge_duration": ("stages: [{type: production, temperature_K: 300, time_ns: 1.0e+12}]\n", None),
    "bad_ensemble": ("stages: [{type: melt, ensemble: nve, temperature_K: 300, steps: 4}]\n", None),
    "text_steps": ("stages: [{type: melt, temperature_K: 300, steps: many}]\n", None),
    "stage_list_item": ("stages: [melt]\n", None),
}


# ---------------------------------------------------------------------------------- the cases
def build(root, shared=None) -> list[Case]:
    """Write the corpus under `root` (inputs in root/in, each case's outputs in root/out/<id>) and
    return the cases. `shared`: the shared data folder (its VASP samples add real-file variants)."""
    from tests.reliability import corpus_cases

    root = Path(root)
    inp = root / "in"
    if inp.exists():
        shutil.rmtree(inp)
    inp.mkdir(parents=True)
    (root / "out").mkdir(exist_ok=True)
    return corpus_cases.cases(root, inp, _base_files(inp), shared)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tests.reliability.corpus DIR", file=sys.stderr)
        return 2
    cases = build(argv[0])
    print(json.dumps([{"id": c.id, "argv": [str(a) for a in c.argv], "rc": c.rc} for c in cases],
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
