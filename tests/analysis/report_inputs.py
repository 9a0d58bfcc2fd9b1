"""Self-made inputs of `mtpflow report`'s provenance sections: a config as used, a data set with
its EFS_by label, a trained potential, an MD run (protocol + thermo split in two files) with
known per-stage values, and Snakemake benchmark files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

PROTOCOL = {"timestep_fs": 1.0, "thermo_every": 10, "traj_every": 50, "stages": [
    {"type": "melt", "temperature_K": 1000, "steps": 100},
    {"type": "quench", "start_K": 1000, "end_K": 600, "steps": 100},
    {"type": "production", "temperature_K": 600, "steps": 200}]}
CONFIG = {"species": ["Li", "Al", "Cl"], "reference": {"engine": "chgnet"},
          "mtp": {"levels": [8], "min_dist_A": 1.6, "max_dist_A": 5.0, "radial_basis_size": 8},
          "train": {"energy_weight": 1.0, "force_weight": 0.01, "stress_weight": 0.001,
                    "max_iter": 400, "tolerance": 0.001},
          "md": {"melt_K": 1000, "quench_rate_K_per_s": 4.0e15},
          "analysis": {"species": "Li", "hop_window_A": [1.5, 4.5]},
          "resources": {"default": {"threads": 1, "mem_mb": 1000}, "train": {"tasks": 2}}}
BENCH = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
# rule, file, wall s, max RSS MB ("NA": too short for Snakemake to measure), CPU s
BENCHMARKS = [("train", "L08.tsv", 12.5, "350.2", 11.0), ("md", "a/r0.tsv", 30.0, "800", 55.0),
              ("md", "a/r1.tsv", 20.0, "NA", 35.0)]


def thermo_rows():
    """Rows every 10 steps, 0..400: melt (steps 0-100) T alternating 1000/1010 K, quench
    (110-200) T = 1000 - 4 (step - 100), production (210-400) T cycling 600/605/610 K."""
    steps = np.arange(0, 401, 10)
    T = np.where(steps <= 100, 1000 + 10 * (steps // 10 % 2),
                 np.where(steps <= 200, 1000 - 4 * (steps - 100), 600 + 5 * (steps // 10 % 3)))
    T = T.astype(float)
    return pd.DataFrame({"step": steps, "time_ps": steps * 1e-3, "temperature_K": T,
                         "potential_energy_eV": -100.0 - T / 100, "kinetic_energy_eV": T / 1000,
                         "total_energy_eV": -100.0, "pressure_GPa": 0.1 + steps * 1e-4,
                         "volume_A3": 1000.0 + steps})


def write_inputs(d):
    """Writes the files into folder d; returns the report arguments for them."""
    from mtpflow.io.cfg import write_cfg
    from mtpflow.io.mtp import write_mtp
    from tests.train.synth import random_configs, random_potential

    (d / "protocol.yaml").write_text(yaml.safe_dump(PROTOCOL))
    df = thermo_rows()
    df[df.step <= 200].to_csv(d / "equilibration.csv", index=False)
    df[df.step > 200].to_csv(d / "seg000.csv", index=False)
    (d / "config_used.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    for rule, name, s, rss, cpu in BENCHMARKS:
        f = d / "bench" / rule / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(BENCH + f"{s}\t0:00:{int(s):02d}\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")
    pot = random_potential(8, seed=1)
    pot.species = ["Li", "Al", "Cl"]
    pot.metadata["training_set_hash"] = "abcdef0123456789"
    write_mtp(d / "trained.mtp", pot)
    configs = random_configs(3, seed=2)
    for c in configs:
        c.features = [("EFS_by", "CHGNet-0.3.0")]
    write_cfg(d / "train.cfg", configs)
    return ["--config-used", str(d / "config_used.yaml"), "--reference-data", str(d / "train.cfg"),
            "--potential", str(d / "trained.mtp"), "--md-run", str(d / "protocol.yaml"),
            str(d / "seg000.csv"), str(d / "equilibration.csv"), "--benchmarks", str(d / "bench")]
