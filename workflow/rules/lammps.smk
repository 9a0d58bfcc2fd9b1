# MLMD on LAMMPS (md.engine: lammps; included by md.smk): mtpflow lammps-deck writes the deck into a
# working folder results/md/<run>/lammps/, `{mpi} -n {tasks} <md.lammps.command> -in in.lammps` runs it
# there (srun under profiles/slurm, mpiexec locally), and mtpflow lammps-thermo / lammps-traj turn its
# log and dump into the thermo.csv and traj.extxyz the embedded route writes.
#
# Restarts: the working folder is never an output, so Snakemake keeps it when a job fails or is
# stopped by its time limit; rerunning the workflow starts LAMMPS again in the same folder, and the
# deck continues from the newer of its two restart files (log and dump are appended; the converters
# drop rows and frames written twice). Only a rewritten deck (changed protocol, potential or
# md.lammps keys) clears the folder's restart files, log and dump, so a new setup starts fresh.

import os
import shlex

LAMMPS = MD["lammps"]
LAMMPS_DIR = f"results/md/{MD_RUN}/lammps"
# File names inside the working folder, as mtpflow.md.deck.DeckFiles names them.
LAMMPS_STATE = "restart.1.lmp restart.2.lmp md.log traj.lammpstrj"


localrules:
    lammps_deck,


rule lammps_deck:
    input:
        mtp="results/mtp/L{level}/trained.mtp",
        start=md_start,
        protocol="results/md/protocols/T{temperature}K.yaml",
    output:
        deck=f"{LAMMPS_DIR}/in.lammps",
        data=f"{LAMMPS_DIR}/data.lammps",
        potential=f"{LAMMPS_DIR}/potential.mtp",
    params:
        workdir=lambda wildcards, output: os.path.dirname(output.deck),
        state=LAMMPS_STATE,
        replicate=",".join(str(n) for n in MD["replicate"]),
        species=SPECIES,
        options=" ".join(
            o
            for o in (
                opt("--pair-style", LAMMPS.get("pair_style", "mlip")),
                opt("--restart-every", LAMMPS.get("restart_every")),
                # testing only (a LAMMPS without MTP): quoted, it holds spaces and ';'
                opt("--pair-style-override", shlex.quote(LAMMPS["pair_style_override"]))
                if LAMMPS.get("pair_style_override")
                else "",
            )
            if o
        ),
        version=MTPFLOW_VERSION,
    log:
        log_path("lammps_deck", MD_RUN),
    benchmark:
        bench_path("lammps_deck", MD_RUN)
    threads: res("lammps_deck", "threads")
    resources:
        mem_mb=res("lammps_deck", "mem_mb"),
        runtime=res("lammps_deck", "runtime"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "(cd {params.workdir} && rm -f {params.state}) && "
        "mtpflow lammps-deck {input.mtp} {input.start} --protocol {input.protocol} "
        "--replicate {params.replicate} --species {params.species} --seed {wildcards.replica} "
        "{params.options} --outdir {params.workdir} > {log} 2>&1"


rule lammps:
    input:
        deck=f"{LAMMPS_DIR}/in.lammps",
        data=f"{LAMMPS_DIR}/data.lammps",
        potential=f"{LAMMPS_DIR}/potential.mtp",
    output:
        # links to the working folder's log and dump (copies where links are impossible), declared
        # here so that a failed job never deletes the files a rerun appends to
        log=f"results/md/{MD_RUN}/lammps.log",
        dump=f"results/md/{MD_RUN}/traj.lammpstrj",
    params:
        workdir=lambda wildcards, input: os.path.dirname(input.deck),
        command=LAMMPS["command"],
        threads_per_rank=res("lammps", "threads"),
        version=MTPFLOW_VERSION,
    log:
        log_path("lammps", MD_RUN),
    benchmark:
        bench_path("lammps", MD_RUN)
    threads: res("lammps", "threads")
    resources:
        mem_mb=res("lammps", "mem_mb"),
        runtime=res("lammps", "runtime"),
        tasks=res("lammps", "tasks"),
        mpi=mpi_launcher(res("lammps", "mpi")),
    conda:
        "../envs/mpi.yaml"
    shell:
        "(cd {params.workdir} && echo \"running LAMMPS in $PWD (thermo: md.log there)\" && "
        "OMP_NUM_THREADS={params.threads_per_rank} {resources.mpi} -n {resources.tasks} {params.command} "
        "-in in.lammps -log none) > {log} 2>&1 && "
        "grep -q 'mtpflow: protocol complete' {params.workdir}/md.log && "
        "{{ ln -f {params.workdir}/md.log {output.log} 2>/dev/null || cp {params.workdir}/md.log {output.log}; }} && "
        "{{ ln -f {params.workdir}/traj.lammpstrj {output.dump} 2>/dev/null || "
        "cp {params.workdir}/traj.lammpstrj {output.dump}; }}"


rule lammps_outputs:
    input:
        log=f"results/md/{MD_RUN}/lammps.log",
        dump=f"results/md/{MD_RUN}/traj.lammpstrj",
    output:
        traj=f"results/md/{MD_RUN}/traj.extxyz",
        thermo=report(
            f"results/md/{MD_RUN}/thermo.csv",
            category="MLMD",
            caption="../report/thermo.rst",
        ),
    params:
        species=SPECIES,
        timestep_fs=MD["timestep_fs"],
        version=MTPFLOW_VERSION,
    log:
        log_path("lammps_outputs", MD_RUN),
    benchmark:
        bench_path("lammps_outputs", MD_RUN)
    threads: res("lammps_outputs", "threads")
    resources:
        mem_mb=res("lammps_outputs", "mem_mb"),
        runtime=res("lammps_outputs", "runtime"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "(mtpflow lammps-thermo {input.log} --out {output.thermo} && "
        "mtpflow lammps-traj {input.dump} --species {params.species} "
        "--timestep-fs {params.timestep_fs} --out {output.traj}) > {log} 2>&1"
