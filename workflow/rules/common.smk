# Shared helpers: config validation, wildcard values, resources, result paths.
import re
import sys
from importlib import metadata
from pathlib import Path

import jsonschema
import yaml


def _mtpflow_version():
    # Part of every rule's params: upgrading the package reruns what it produced.
    try:
        return metadata.version("mtpflow")
    except metadata.PackageNotFoundError:
        return "unknown"


MTPFLOW_VERSION = _mtpflow_version()


class ConfigError(Exception):
    pass


def _key_path(error):
    parts = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (("." if parts else "") + str(p)))
    return "".join(parts) or "(top level)"


def validate_config(cfg, schema_path, sources="config/config.yaml"):
    """Validate against the JSON schema and cross-check names; raise one message listing all problems."""
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for e in sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path))):
        hint = ""
        if isinstance(e.instance, str) and e.validator in ("type", "exclusiveMinimum", "minimum"):
            try:
                float(e.instance)
                hint = " (YAML reads this as text: write exponents with a sign, e.g. 1.0e+14, 1.0e-03)"
            except ValueError:
                pass
        problems.append(f"  {_key_path(e)}: {e.message}{hint}")
    if not problems:
        species = set(cfg["species"])
        names = cfg["compositions"]
        for name, comp in names.items():
            elements = set(re.findall(r"[A-Z][a-z]?", comp["formula"]))
            if not elements <= species:
                problems.append(
                    f"  compositions.{name}.formula: elements {sorted(elements - species)} "
                    f"are not in species {cfg['species']}"
                )
        aimd_names = cfg["initial"].get("compositions", list(names))
        for name in cfg["md"]["compositions"]:
            if name in names and name not in aimd_names:
                problems.append(
                    f"  md.compositions: '{name}' has no reference AIMD to start MLMD from; "
                    f"add it to initial.compositions ({aimd_names})"
                )
        for key in ("initial.compositions", "md.compositions"):
            section, sub = key.split(".")
            for name in cfg[section].get(sub, []):
                if name not in names:
                    problems.append(f"  {key}: '{name}' is not a name under compositions ({sorted(names)})")
        if cfg["reference"]["engine"] == "vasp" and "vasp" not in cfg["reference"]:
            problems.append("  reference.vasp: engine vasp needs reference.vasp.command (e.g. vasp_std)")
        if cfg["analysis"]["species"] not in species:
            problems.append(f"  analysis.species: '{cfg['analysis']['species']}' is not in species {cfg['species']}")
        if cfg["mtp"].get("min_dist_A", 0) >= cfg["mtp"]["max_dist_A"]:
            problems.append("  mtp.min_dist_A: must be smaller than mtp.max_dist_A")
    if problems:
        raise ConfigError(
            f"invalid workflow configuration in {sources} "
            "(schema: workflow/schemas/config.schema.yaml):\n" + "\n".join(problems)
        )


try:
    validate_config(
        config,
        Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
        ", ".join(map(str, workflow.configfiles)) or "the --config values",
    )
except ConfigError as exc:
    sys.exit(f"mtpflow workflow: {exc}")


# ---- wildcard values -------------------------------------------------------------------------
SPECIES = ",".join(config["species"])
ENGINE = config["reference"]["engine"]
COMPOSITIONS = config["compositions"]
TRAIN_COMPOSITIONS = config["initial"].get("compositions", list(COMPOSITIONS))
AIMD_REPLICAS = list(range(config["initial"]["replicas"]))
LEVELS = [f"{lv:02d}" for lv in config["mtp"]["levels"]]
MD_COMPOSITIONS = config["md"]["compositions"]
MD_TEMPERATURES = [str(t) for t in config["md"]["temperatures_K"]]
MD_REPLICAS = list(range(config["md"]["replicas"]))
MD_RUN = "L{level}/{composition}/T{temperature}K/r{replica}"


def formula(wildcards):
    return COMPOSITIONS[wildcards.composition]["formula"]


def density_factor(wildcards):
    comp = COMPOSITIONS[wildcards.composition]
    return comp.get("density_factor", config["initial"]["density_factor"])


# ---- resources ---------------------------------------------------------------------------------
_RESOURCE_DEFAULTS = {"threads": 1, "mem_mb": 1000, "runtime": 30, "tasks": 2, "mpi": "mpiexec"}


def res(rule_name, key):
    """Per-rule resource value; resources.<rule name> overrides resources.default in config."""
    merged = {**_RESOURCE_DEFAULTS, **config["resources"]["default"], **config["resources"].get(rule_name, {})}
    return merged[key]


def mpi_launcher(value):
    """'mpiexec' resolves to the mpiexec beside this Python (the mpich wheel); anything else as given."""
    if value == "mpiexec":
        local = Path(sys.executable).parent / "mpiexec"
        if local.exists():
            return str(local)
    return value


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


def log_path(rule_name, pattern=""):
    return f"logs/{rule_name}/{pattern or 'all'}.log"


def bench_path(rule_name, pattern=""):
    return f"logs/benchmarks/{rule_name}/{pattern or 'all'}.tsv"


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
    }
    return " ".join(f"{flags[k]} {' '.join(input[k])}" for k in flags if len(input[k]))


def md_stage_steps(temperature):
    """Steps of melt, quench (0 when the production temperature is not below melt_K), production."""
    md = config["md"]
    dt = md["timestep_fs"]
    melt = int(round(md["melt_ps"] * 1e3 / dt))
    quench = 0
    if temperature < md["melt_K"]:
        quench = max(1, int(round((md["melt_K"] - temperature) / md["quench_rate_K_per_s"] * 1e15 / dt)))
    production = max(1, int(round(md["production_ps"] * 1e3 / dt)))
    return melt, quench, production


def md_protocol(wildcards):
    """The MLMD protocol for one production temperature: melt → linear quench → production.
    Durations are written as step counts so that the production frames are known here."""
    md = config["md"]
    target = float(wildcards.temperature)
    thermostat = md.get("thermostat", "nhc")
    melt, quench, production = md_stage_steps(target)
    stages = []
    if melt:
        stages.append({"type": "melt", "temperature_K": md["melt_K"], "steps": melt, "thermostat": thermostat})
    if quench:
        stages.append({"type": "quench", "start_K": md["melt_K"], "end_K": target, "steps": quench,
                       "thermostat": thermostat})
    stages.append({"type": "production", "temperature_K": target, "steps": production, "thermostat": thermostat})
    protocol = {"timestep_fs": md["timestep_fs"], "stages": stages}
    for key in ("traj_every", "thermo_every"):
        if key in md:
            protocol[key] = md[key]
    return protocol


def production_index(wildcards):
    """Frame slice of the MLMD trajectory that holds the production stage (frame k = step k × traj_every)."""
    melt, quench, _ = md_stage_steps(float(wildcards.temperature))
    every = config["md"].get("traj_every", 1)
    return f"{-(-(melt + quench) // every)}:"


def md_start(wildcards):
    """MLMD starts from the last frame of the composition's first reference AIMD trajectory."""
    return f"results/aimd/{wildcards.composition}/r0/traj.extxyz"


def write_yaml(path, data, log):
    with open(path, "w") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)
    with open(log, "w") as fh:
        fh.write(f"wrote {path}\n")


def vasp_options(kind):
    """mtpflow vasp-inputs/densify options for the VASP route from reference.vasp (kind: aimd|static)."""
    vasp = config["reference"].get("vasp", {})
    incar = dict(vasp.get(f"{kind}_incar", {}))
    if kind == "aimd":
        aimd = config["aimd"]
        incar = {"TEBEG": aimd["temperature_K"], "TEEND": aimd["temperature_K"],
                 "POTIM": aimd["timestep_fs"], "NSW": aimd["steps"], **incar}
    parts = [
        opt("--functional", vasp.get("functional")),
        opt("--potcar", vasp.get("potcar")),
        opt("--potcar-spec", vasp.get("potcar_spec", False)),
        opt("--vdw", vasp.get("vdw")),
    ]
    if incar:
        parts.append("--incar " + " ".join(f"{k}={v}" for k, v in incar.items()))
    return " ".join(p for p in parts if p)
