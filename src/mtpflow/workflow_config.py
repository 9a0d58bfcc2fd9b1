"""The workflow's configuration: defaults, validation, and the MLMD step and frame arithmetic.

`check_config(cfg, schema)` is the one place the workflow's defaults come from: it fills every
`default:` of the JSON schema (workflow/schemas/config.schema.yaml) into the config, in place,
while it validates, so a section added to the schema with defaults needs no code here. A whole
optional section defaults to {} and so receives the defaults of its keys. Two defaults name
another key and are filled after the schema's: initial.compositions (every composition) and
compositions.<name>.density_factor (initial.density_factor).

All problems are reported at once, one line per key: schema errors first; once the schema holds,
cross-checks between keys and the combinations that would leave a stage with nothing to work on
(an AIMD run skipped whole, one block for the train/test split, too few production frames for the
analysis, van Hove lags longer than the production run, a thermo interval longer than the run).

`md_stage_steps`, `md_parts` and `production_frames` are the protocol arithmetic the rules use
(the MLMD protocol, its jobs: equilibration and production segments, the production frames) and
the tests check against.
"""

from __future__ import annotations

import copy
import re

from mtpflow.errors import MtpflowError

SCHEMA_PATH = "workflow/schemas/config.schema.yaml"

# The analysis fits MSD = 6 D t + c over at least 3 non-zero lags (mtpflow.analysis.msd), so the
# production trajectory needs 4 frames (tests/workflow/test_config_defaults.py runs it on 3 and 4).
MIN_PRODUCTION_FRAMES = 4


class ConfigError(MtpflowError):
    """The configuration breaks the schema or a cross-check; the message lists every problem."""


def _default_filling(validator_class):
    """`validator_class` extended to set each property's schema default on the instance before
    validating it (jsonschema's FAQ recipe; the default is copied, never shared)."""
    from jsonschema import validators

    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    return validators.extend(validator_class, {"properties": properties})


def _key_path(error) -> str:
    parts: list[str] = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (("." if parts else "") + str(p)))
    return "".join(parts) or "(top level)"


def _schema_problems(cfg: dict, schema: dict) -> list[str]:
    import jsonschema

    validator = _default_filling(jsonschema.Draft202012Validator)(schema)
    problems = []
    for e in sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path))):
        hint = ""
        if isinstance(e.instance, str) and e.validator in ("type", "exclusiveMinimum", "minimum", "anyOf"):
            try:
                float(e.instance)
                hint = " (YAML reads this as text: write exponents with a sign, e.g. 1.0e+14, 1.0e-03)"
            except ValueError:
                pass
        problems.append(f"  {_key_path(e)}: {e.message}{hint}")
    return problems


def _fill_derived_defaults(cfg: dict) -> None:
    cfg["initial"].setdefault("compositions", list(cfg["compositions"]))
    for comp in cfg["compositions"].values():
        comp.setdefault("density_factor", cfg["initial"]["density_factor"])


def _cross_problems(cfg: dict) -> list[str]:
    problems = []
    species = set(cfg["species"])
    names = cfg["compositions"]
    for name, comp in names.items():
        elements = set(re.findall(r"[A-Z][a-z]?", comp["formula"]))
        if not elements <= species:
            problems.append(f"  compositions.{name}.formula: elements {sorted(elements - species)} "
                            f"are not in species {cfg['species']}")
    aimd_names = cfg["initial"]["compositions"]
    for name in cfg["md"]["compositions"]:
        if name in names and name not in aimd_names:
            problems.append(f"  md.compositions: '{name}' has no reference AIMD to start MLMD from; "
                            f"add it to initial.compositions ({aimd_names})")
    for key in ("initial.compositions", "md.compositions"):
        section, sub = key.split(".")
        for name in cfg[section][sub]:
            if name not in names:
                problems.append(f"  {key}: '{name}' is not a name under compositions ({sorted(names)})")
    if cfg["reference"]["engine"] == "vasp" and "vasp" not in cfg["reference"]:
        problems.append("  reference.vasp: engine vasp needs reference.vasp.command (e.g. vasp_std)")
    if cfg["analysis"]["species"] not in species:
        problems.append(f"  analysis.species: '{cfg['analysis']['species']}' is not in species {cfg['species']}")
    if cfg["mtp"]["min_dist_A"] >= cfg["mtp"]["max_dist_A"]:
        problems.append(f"  mtp.min_dist_A: {cfg['mtp']['min_dist_A']} must be smaller than "
                        f"mtp.max_dist_A ({cfg['mtp']['max_dist_A']})")
    al = cfg["active_learning"]
    if al["grade_break"] <= al["grade_save"]:
        problems.append(f"  active_learning.grade_break: {al['grade_break']:g} must be larger than "
                        f"active_learning.grade_save ({al['grade_save']:g})")
    return problems


# ---- protocol arithmetic --------------------------------------------------------------------------

def md_stage_steps(md: dict, temperature_K: float) -> tuple[int, int, int]:
    """Steps of melt, quench (0 when the production temperature is not below melt_K) and production
    for one production temperature (md: the config's md section, defaults filled)."""
    dt = md["timestep_fs"]
    melt = int(round(md["melt_ps"] * 1e3 / dt))
    quench = 0
    if temperature_K < md["melt_K"]:
        quench = max(1, int(round((md["melt_K"] - temperature_K) / md["quench_rate_K_per_s"] * 1e15 / dt)))
    production = max(1, int(round(md["production_ps"] * 1e3 / dt)))
    return melt, quench, production


def production_segments(md: dict, temperature_K: float) -> list[tuple[int, int]]:
    """(start, stop) global steps of each production segment (a segment runs steps start+1 ..
    stop): md.segment_ps long each (the last one takes the rest), or the whole production as one
    segment when md.segment_ps is null."""
    melt, quench, production = md_stage_steps(md, temperature_K)
    first = melt + quench
    seg = md.get("segment_ps")
    length = production if seg is None else max(1, int(round(seg * 1e3 / md["timestep_fs"])))
    ends = list(range(length, production, length)) + [production]
    return [(first + a, first + b) for a, b in zip([0] + ends[:-1], ends)]


def md_parts(md: dict, temperature_K: float) -> dict[str, tuple[int, int | None]]:
    """The jobs of one MLMD run, in order: part name -> (the step it continues from, None for the
    first job, which starts at step 0; the step it stops at). 'equilibration' runs melt and quench
    (steps 0 .. melt + quench), 'production/seg000', 'production/seg001', ... the production."""
    melt, quench, _ = md_stage_steps(md, temperature_K)
    parts: dict[str, tuple[int, int | None]] = {"equilibration": (None, melt + quench)}
    for k, (a, b) in enumerate(production_segments(md, temperature_K)):
        parts[f"production/seg{k:03d}"] = (a, b)
    return parts


def production_frames(md: dict, temperature_K: float, traj_every: int | None = None) -> tuple[int, int]:
    """(index of the first production frame in the whole run's trajectory, number of production
    frames). Frame k of the whole run is step k x traj_every (step 0 and every traj_every-th step
    on both routes); the production segments hold the frames after melt + quench."""
    every = md["traj_every"] if traj_every is None else traj_every
    melt, quench, production = md_stage_steps(md, temperature_K)
    first = (melt + quench) // every + 1
    last = (melt + quench + production) // every
    return first, max(0, last - first + 1)


def _frames_between(a: int, b: int, every: int) -> int:
    """Multiples of `every` in a+1 .. b."""
    return b // every - a // every


def _aimd_frames_for_dataset(cfg: dict) -> int:
    """Frames one AIMD run gives the data set after collect and densify (an upper bound on the VASP
    route, whose run writes every step whatever aimd.every is)."""
    aimd, collect = cfg["aimd"], cfg["collect"]
    every = 1 if cfg["reference"]["engine"] == "vasp" else aimd["every"]
    skip_fs = collect["skip_ps"] * 1e3
    kept = sum(1 for k in range(aimd["steps"] // every + 1)
               if k * every * aimd["timestep_fs"] >= skip_fs - 1e-9)
    kept = -(-kept // collect["every"])
    return -(-kept // cfg["densify"]["every"])


def _empty_output_problems(cfg: dict) -> list[str]:
    problems = []
    aimd, md = cfg["aimd"], cfg["md"]
    aimd_ps = aimd["steps"] * aimd["timestep_fs"] * 1e-3
    if cfg["collect"]["skip_ps"] > aimd_ps + 1e-12:
        problems.append(
            f"  collect.skip_ps: {cfg['collect']['skip_ps']:g} ps skips the whole AIMD run (aimd.steps x "
            f"aimd.timestep_fs = {aimd_ps:g} ps), so collect has no frames; lower collect.skip_ps below "
            f"{aimd_ps:g} or raise aimd.steps")
    else:
        runs = len(cfg["initial"]["compositions"]) * cfg["initial"]["replicas"]
        frames = _aimd_frames_for_dataset(cfg)
        block = cfg["dataset"]["block_size"]
        if runs == 1 and frames <= block:
            problems.append(
                f"  dataset.block_size: the one AIMD run gives {frames} frame(s) to the data set "
                f"(aimd.steps, aimd.every, collect.skip_ps, collect.every, densify.every), all in one "
                f"block of dataset.block_size = {block}, so no test set can be split off; lower "
                f"dataset.block_size below {frames} or keep more frames")

    dt = md["timestep_fs"]
    every = md["traj_every"]
    spans = []
    for t in md["temperatures_K"]:
        first, n = production_frames(md, t)
        melt, quench, production = md_stage_steps(md, t)
        if n < MIN_PRODUCTION_FRAMES:
            # any interval up to production / MIN_PRODUCTION_FRAMES leaves enough frames (n > P/e - 1)
            fit = production // MIN_PRODUCTION_FRAMES
            need = ((melt + quench) // every + MIN_PRODUCTION_FRAMES) * every - (melt + quench)
            fix = (f"lower md.traj_every to {fit} or less, or " if fit else "") + \
                f"raise md.production_ps to {need * dt * 1e-3:g} or more"
            problems.append(
                f"  md.traj_every: the production run at {t} K ({production} steps of md.timestep_fs = "
                f"{dt:g} fs, md.production_ps = {md['production_ps']:g}) holds {n} trajectory frame(s) "
                f"every {every} steps; the analysis needs {MIN_PRODUCTION_FRAMES}: {fix}")
        else:
            spans.append((max(0, n - 1) * every * dt * 1e-3, t))
        segments = production_segments(md, t)
        for k, (a, b) in enumerate(segments):
            empty = [f"trajectory frame (a frame every md.traj_every = {every} steps)"
                     if _frames_between(a, b, every) == 0 else None,
                     f"thermo row (a row every md.thermo_every = {md['thermo_every']} steps)"
                     if _frames_between(a, b, md["thermo_every"]) == 0 else None]
            empty = [e for e in empty if e]
            if n >= MIN_PRODUCTION_FRAMES and empty:
                problems.append(
                    f"  md.segment_ps: production segment {k} of {len(segments)} at {t} K (steps "
                    f"{a + 1} .. {b}: {b - a} of md.timestep_fs = {dt:g} fs) holds no "
                    f"{' and no '.join(empty)}; raise md.segment_ps (each segment must hold both), "
                    f"or choose md.production_ps so that the last segment is not that short")
                break
        if md["thermo_every"] > melt + quench + production:
            problems.append(
                f"  md.thermo_every: {md['thermo_every']} steps is longer than the whole MLMD run at {t} K "
                f"({melt + quench + production} steps), so its thermo CSV holds step 0 only; lower "
                f"md.thermo_every")
    lags = cfg["analysis"]["lags_ps"]
    if lags and spans:
        span, t = min(spans)
        long = [lag for lag in lags if lag > span + 1e-9]
        if long:
            problems.append(
                f"  analysis.lags_ps: {long} ps exceed the production trajectory ({span:g} ps from "
                f"frame to frame at {t} K: md.production_ps, md.traj_every); drop them or raise "
                f"md.production_ps")
    return problems


def check_config(cfg: dict, schema: dict, source: str = "config/config.yaml") -> dict:
    """Fill the schema's defaults into `cfg` (in place) and validate it; raise ConfigError listing
    every problem, naming each key. Returns `cfg`."""
    problems = _schema_problems(cfg, schema)
    if not problems:
        _fill_derived_defaults(cfg)
        problems = _cross_problems(cfg)
    if not problems:
        problems = _empty_output_problems(cfg)
    if problems:
        raise ConfigError(f"invalid workflow configuration in {source} (schema: {SCHEMA_PATH}):\n"
                          + "\n".join(problems))
    return cfg


def schema_defaults(schema: dict, prefix: str = "") -> dict[str, object]:
    """Every `default:` of the schema by dotted key ('md.traj_every', 'resources.default.threads');
    sections that default to {} are left out (their keys are listed)."""
    out: dict[str, object] = {}
    definitions = schema.get("definitions", {})

    def walk(node, path):
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            target = definitions.get(node["$ref"].rsplit("/", 1)[-1], {})
            walk({**target, **{k: v for k, v in node.items() if k != "$ref"}}, path)
            return
        if "default" in node and not ("properties" in node and node["default"] == {}):
            out[path] = node["default"]
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}" if path else name)

    walk(schema, prefix)
    return out
