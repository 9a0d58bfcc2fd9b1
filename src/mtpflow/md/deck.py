"""LAMMPS input decks for an MD protocol (units metal), restartable after a time limit.

The deck reads the data file on a fresh start and, when restart files exist, the newer of the two
alternating restart files instead. Each stage is `run <end> upto start <a> stop <b>` with its own
fix ID, so after a restart the stages already done are skipped, a temperature ramp resumes at the
right fraction, and the thermostat state stored in the restart file goes to the right fix. Thermo
rows go to the log (appended across restarts), frames to a `dump custom` with unwrapped
coordinates (xu yu zu) appended across restarts; mtpflow.io.md_files.read_lammps_log and
mtpflow.io.lammps_dump drop the rows and frames a restarted job wrote twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from ase import units

from mtpflow.errors import InputError
from mtpflow.md.protocol import Protocol

BAR_PER_GPA = units.GPa / units.bar
# The deck's last line prints this to its log: a log without it is a run stopped early.
COMPLETE_MARKER = "mtpflow: protocol complete"
# Steps between restart files when neither --restart-every nor the protocol's checkpoint_every is set.
DEFAULT_RESTART_EVERY = 10000


@dataclass
class DeckFiles:
    """File names the deck refers to (relative to the folder LAMMPS runs in)."""

    deck: str = "in.lammps"
    data: str = "data.lammps"
    potential: str = "potential.almtp"
    log: str = "md.log"
    dump: str = "traj.lammpstrj"
    restart1: str = "restart.1.lmp"
    restart2: str = "restart.2.lmp"


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
                f"fix             {fid}t all temp/csvr {t1:g} {t2:g} {tdamp:g} {seed + 101 + i}"], [fid, f"{fid}t"]
    # langevin: damp is 1/friction
    damp_ps = 1e-3 / stage.friction_per_fs
    return [f"fix             {fid} all nve",
            f"fix             {fid}t all langevin {t1:g} {t2:g} {damp_ps:g} {seed + 101 + i} zero yes"], \
        [fid, f"{fid}t"]


def make_deck(protocol: Protocol, species, masses, files: DeckFiles, pair_style: str = "mlip",
              pair_override: str | None = None, restart_every: int | None = None,
              title: str = "", pair_settings: list[str] | None = None) -> str:
    """The text of in.lammps for `protocol` (units metal, atom_style atomic); pair_settings go to
    pair_lines."""
    p = protocol
    restart_every = restart_every or p.checkpoint_every or DEFAULT_RESTART_EVERY
    t0 = p.start_temperature_K()
    lines = [
        f"# mtpflow LAMMPS deck{': ' + title if title else ''}",
        "# stages: " + "; ".join(f"{s.name} {s.ensemble} {s.n_steps} steps" for s in p.stages),
        "# run: srun <lmp> -in in.lammps   (continues from the newer restart file when one exists)",
        "",
        f"log             {files.log} append",
        "units           metal",
        "atom_style      atomic",
        "boundary        p p p",
        "",
        "# -- fresh start or restart: find the newer of the two alternating restart files",
        "variable        s1 equal -1",
        "variable        s2 equal -1",
        f'if "$(is_file({files.restart1}))" then "read_restart {files.restart1}" "variable s1 equal $(step)" "clear"',
        f'if "$(is_file({files.restart2}))" then "read_restart {files.restart2}" "variable s2 equal $(step)" "clear"',
        "units           metal",
        "atom_style      atomic",
        "boundary        p p p",
        f'if "${{s1}} >= 0 && ${{s1}} >= ${{s2}}" then "read_restart {files.restart1}" "variable restarted equal 1" &',
        f'  elif "${{s2}} >= 0" "read_restart {files.restart2}" "variable restarted equal 1" &',
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
        f"restart         {restart_every} {files.restart1} {files.restart2}",
        f"dump            traj all custom {p.traj_every} {files.dump} id type xu yu zu",
        "dump_modify     traj sort id",
        'if "${restarted} == 1" then "dump_modify traj append yes"',
        "# blow-up protection: stop when the temperature runs away",
        "variable        tnow equal temp",
        f"fix             blowup all halt {p.blowup.check_every} v_tnow > {p.max_temperature_K():g} error hard message yes",
        "variable        now equal step",
        "",
    ]
    for i, ((a, b), stage) in enumerate(zip(p.stage_bounds(), p.stages)):
        if stage.n_steps == 0:
            continue
        fix_lines, ids = _stage_fix(i, stage, p.seed)
        desc = (f"{stage.start_K:g} -> {stage.end_K:g} K" if stage.start_K is not None else "NVE")
        lines += [f"# -- stage {i}: {stage.name}, {stage.ensemble}, {desc}, steps {a} .. {b}"]
        lines += fix_lines
        lines += [f'if "${{now}} < {b}" then "run {b} upto start {a} stop {b}"']
        lines += [f"unfix           {fid}" for fid in reversed(ids)]
        lines += [""]
    lines += [f'print "{COMPLETE_MARKER}"', ""]
    return "\n".join(lines)
