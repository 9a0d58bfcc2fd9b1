"""LAMMPS input decks for an MD protocol (units metal), restartable after a time limit, run as one
job or as a chain of parts (equilibration, production segments).

One deck serves every part of a run; three index variables, set on LAMMPS's command line
(`-var NAME VALUE`, what mtpflow lammps-run passes), say which:

    stop   the global step this part ends at (default: the protocol's last step)
    part   the prefix of this part's files in the folder: <part>.log, <part>.lammpstrj, its
           alternating restart files <part>.restart.1.lmp / .2.lmp and its final state
           <part>.end.restart (default: md)
    from   the restart file this part continues from, e.g. the previous part's
           <part>.end.restart (default: none, i.e. start from the data file)

The deck starts from the newer of the part's own restart files when they exist (a rerun after a
time limit), else from `from`, else from the data file. Each stage is `run <min(b, stop)> upto
start <a> stop <b>` with its own fix ID, so the stages already done are skipped, a temperature
ramp resumes at the right fraction, and the thermostat state stored in a restart file goes to the
right fix. At the stop step, while the stage's fix still exists (its thermostat state is saved
too), the deck writes <part>.end.restart and prints REACHED_MARKER; at the protocol's last step it
also prints COMPLETE_MARKER. Thermo rows go to the log and frames to a `dump custom` with
unwrapped coordinates (xu yu zu), both appended across restarts; mtpflow.io.md_files
.read_lammps_log and mtpflow.io.lammps_dump drop the rows and frames a restarted job wrote twice.
A part continued from another writes the row and frame of its start step again (LAMMPS does at
the start of every run); `mtpflow lammps-outputs --after-step` drops them.

Stochastic thermostats (temp/csvr, langevin) are seeded with seed + 101 + stage + the step the
fix is defined at, so a restarted or continued part draws new random numbers, never the ones its
stage started with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ase import units

from mtpflow.errors import InputError
from mtpflow.md.protocol import Protocol

BAR_PER_GPA = units.GPa / units.bar
# The deck prints this to its log at the protocol's last step: a log without it stopped early.
COMPLETE_MARKER = "mtpflow: protocol complete"
# ... and this at the step a part stops at (REACHED_MARKER.format(stop)).
REACHED_MARKER = "mtpflow: reached step {}"
DEFAULT_PART = "md"
_STOP_LINE = re.compile(r"^variable\s+stop\s+index\s+(\d+)\s*$", re.M)
# Steps between restart files when neither --restart-every nor the protocol's checkpoint_every is set.
DEFAULT_RESTART_EVERY = 10000


@dataclass
class DeckFiles:
    """File names the deck refers to (relative to the folder LAMMPS runs in); a part's own files
    are named by part_files(part)."""

    deck: str = "in.lammps"
    data: str = "data.lammps"
    potential: str = "potential.almtp"

    @staticmethod
    def log(part: str = DEFAULT_PART) -> str:
        return f"{part}.log"

    @staticmethod
    def dump(part: str = DEFAULT_PART) -> str:
        return f"{part}.lammpstrj"

    @staticmethod
    def end_restart(part: str = DEFAULT_PART) -> str:
        return f"{part}.end.restart"

    @staticmethod
    def stamp(part: str = DEFAULT_PART) -> str:
        """What lammps-run records about the job that owns the part's files."""
        return f"{part}.job"

    @staticmethod
    def part_files(part: str = DEFAULT_PART) -> list[str]:
        """Every file a part's runs leave in the folder (its stamp last)."""
        return [f"{part}.log", f"{part}.lammpstrj", f"{part}.restart.1.lmp", f"{part}.restart.2.lmp",
                f"{part}.end.restart", f"{part}.job"]


def deck_total_steps(text: str) -> int | None:
    """The protocol's last step, from the deck's `variable stop index N` line (None: a deck of an
    earlier mtpflow, which has no such line)."""
    m = _STOP_LINE.search(text)
    return int(m.group(1)) if m else None


def pair_lines(pair_style: str, species, potential: str, override: str | None = None,
               settings: list[str] | None = None) -> list[str]:
    """The pair_style/pair_coeff commands: `mlip` (MLIP interface, as the guidebook deck) or `mtp`
    (LAMMPS ML-MTP package; pair_coeff maps atom type k+1 to MTP type k). `override` is a
    ';'-separated replacement (e.g. for testing with a LAMMPS build that has no MTP). `settings`:
    further key=value settings of pair_style mlip (MLIP-3's extrapolation_control:...), one per
    continuation line."""
    if settings and (override or pair_style != "mlip"):
        raise InputError("pair_style settings (extrapolation control) exist only for pair_style mlip")
    if override:
        cmds = [c.strip() for c in override.split(";") if c.strip()]
        if not cmds or not cmds[0].startswith("pair_style"):
            raise InputError("--pair-style-override must start with 'pair_style ...'; separate "
                             "commands with ';', e.g. 'pair_style soft 2.0; pair_coeff * * 10.0'")
        return cmds
    if pair_style == "mlip":
        head = f"pair_style      mlip load_from={potential}"
        lines = [head + (" &" if settings else "")]
        lines += [f"                {x}" + (" &" if k + 1 < len(settings) else "")
                  for k, x in enumerate(settings or [])]
        return lines + ["pair_coeff      * *"]
    if pair_style == "mtp":
        return ["pair_style      mtp",
                f"pair_coeff      * * {potential} " + " ".join(str(k) for k in range(len(species)))]
    raise InputError(f"--pair-style {pair_style!r}: use mlip (MLIP interface) or mtp (ML-MTP package)")


def _stage_fix(i: int, stage, seed: int) -> tuple[list[str], list[str]]:
    fid = f"md{i}"
    rseed = f"$({seed + 101 + i}+step)"  # new random numbers after every restart
    t1, t2 = stage.start_K, stage.end_K
    tdamp = stage.tdamp_fs * 1e-3
    if stage.ensemble == "nve":
        return [f"fix             {fid} all nve"], [fid]
    if stage.ensemble == "npt":
        p = stage.pressure_GPa * BAR_PER_GPA
        return [f"fix             {fid} all npt temp {t1:g} {t2:g} {tdamp:g} iso {p:g} {p:g} "
                f"{stage.pdamp_fs * 1e-3:g}"], [fid]
    if stage.thermostat == "nhc":
        return [f"fix             {fid} all nvt temp {t1:g} {t2:g} {tdamp:g}"], [fid]
    if stage.thermostat == "bussi":
        return [f"fix             {fid} all nve",
                f"fix             {fid}t all temp/csvr {t1:g} {t2:g} {tdamp:g} {rseed}"], [fid, f"{fid}t"]
    # langevin: damp is 1/friction
    damp_ps = 1e-3 / stage.friction_per_fs
    return [f"fix             {fid} all nve",
            f"fix             {fid}t all langevin {t1:g} {t2:g} {damp_ps:g} {rseed} zero yes"], \
        [fid, f"{fid}t"]


def make_deck(protocol: Protocol, species, masses, files: DeckFiles, pair_style: str = "mlip",
              pair_override: str | None = None, restart_every: int | None = None,
              title: str = "", pair_settings: list[str] | None = None) -> str:
    """The text of in.lammps for `protocol` (units metal, atom_style atomic); pair_settings go to
    pair_lines."""
    p = protocol
    restart_every = restart_every or p.checkpoint_every or DEFAULT_RESTART_EVERY
    t0 = p.start_temperature_K()
    total = p.total_steps
    lines = [
        f"# mtpflow LAMMPS deck{': ' + title if title else ''}",
        "# stages: " + "; ".join(f"{s.name} {s.ensemble} {s.n_steps} steps" for s in p.stages),
        "# run: srun <lmp> -in in.lammps   (continues from the newer restart file when one exists)",
        "#   a part of the run: ... -var stop N -var part NAME [-var from PREVIOUS.end.restart]",
        "",
        f"variable        stop index {total}",
        f"variable        part index {DEFAULT_PART}",
        "variable        from index none",
        "log             ${part}.log append",
        "units           metal",
        "atom_style      atomic",
        "boundary        p p p",
        "",
        "# -- start: the newer of this part's restart files, else the file it continues, else data",
        "variable        s1 equal -1",
        "variable        s2 equal -1",
        "variable        has1 equal is_file(${part}.restart.1.lmp)",
        "variable        has2 equal is_file(${part}.restart.2.lmp)",
        "variable        hasfrom equal is_file(${from})",
        'if "${has1}" then "read_restart ${part}.restart.1.lmp" "variable s1 equal $(step)" "clear"',
        'if "${has2}" then "read_restart ${part}.restart.2.lmp" "variable s2 equal $(step)" "clear"',
        "units           metal",
        "atom_style      atomic",
        "boundary        p p p",
        'if "${s1} >= 0 && ${s1} >= ${s2}" then "read_restart ${part}.restart.1.lmp" "variable restarted equal 1" &',
        '  elif "${s2} >= 0" "read_restart ${part}.restart.2.lmp" "variable restarted equal 1" &',
        '  elif "${hasfrom}" "read_restart ${from}" "variable restarted equal 1" &',
        f'  else "read_data {files.data}" "variable restarted equal 0"',
        "",
    ]
    lines += [f"mass            {k + 1} {m:.6f}  # {s}" for k, (s, m) in enumerate(zip(species, masses))]
    lines += [""]
    lines += pair_lines(pair_style, species, files.potential, pair_override, pair_settings)
    lines += [
        "neighbor        1.0 bin",
        "neigh_modify    every 1 delay 0 check yes",
        "",
        f"timestep        {p.timestep_fs * 1e-3:g}",
        f'if "${{restarted}} == 0" then "velocity all create {t0:g} {p.seed + 1} dist gaussian mom yes rot no"',
        "",
        "thermo_style    custom step time temp pe ke etotal press vol density",
        "thermo_modify   flush yes lost error",
        f"thermo          {p.thermo_every}",
        f"restart         {restart_every} ${{part}}.restart.1.lmp ${{part}}.restart.2.lmp",
        f"dump            traj all custom {p.traj_every} ${{part}}.lammpstrj id type xu yu zu",
        "dump_modify     traj sort id",
        'if "${restarted} == 1" then "dump_modify traj append yes"',
        "# blow-up protection: stop when the temperature runs away",
        "variable        tnow equal temp",
        f"fix             blowup all halt {p.blowup.check_every} v_tnow > {p.max_temperature_K():g} error hard message yes",
        "variable        now equal step",
        "variable        saved equal 0",
        "",
    ]
    # the final state is written while the stage's fix exists, so its thermostat state is saved
    save = ('if "${now} == ${stop} && ${saved} == 0" then "write_restart ${part}.end.restart" '
            '"variable saved equal 1"')
    for i, ((a, b), stage) in enumerate(zip(p.stage_bounds(), p.stages)):
        if stage.n_steps == 0:
            continue
        fix_lines, ids = _stage_fix(i, stage, p.seed)
        desc = (f"{stage.start_K:g} -> {stage.end_K:g} K" if stage.start_K is not None else "NVE")
        lines += [f"# -- stage {i}: {stage.name}, {stage.ensemble}, {desc}, steps {a} .. {b}"]
        lines += fix_lines
        lines += [f'if "${{now}} < {b} && ${{now}} < ${{stop}}" then '
                  f'"run $(ternary({b}<v_stop,{b},v_stop)) upto start {a} stop {b}"', save]
        lines += [f"unfix           {fid}" for fid in reversed(ids)]
        lines += [""]
    lines += [save,
              'if "${now} == ${stop}" then "print \'' + REACHED_MARKER.format("${stop}") + '\'"',
              f'if "${{now}} == {total}" then "print \'{COMPLETE_MARKER}\'"', ""]
    return "\n".join(lines)
