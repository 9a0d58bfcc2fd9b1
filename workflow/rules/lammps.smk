# MLMD on LAMMPS (md.engine: lammps; included by md.smk): mtpflow lammps-deck writes the deck into a
# working folder results/md/<run>/lammps/, mtpflow lammps-run starts `{mpi} -n {tasks}
# <md.lammps.command> -in in.lammps` there (srun under profiles/slurm, mpiexec locally) and, once the
# protocol is complete, links its log and dump out; mtpflow lammps-outputs turns them into the
# thermo.csv and traj.extxyz the embedded route writes.
#
# Restarts: the working folder is never an output, so Snakemake keeps it when a job fails or is
# stopped by its time limit; rerunning the workflow starts LAMMPS again in the same folder, and the
# deck continues from the newer of its two restart files (log and dump are appended; the converters
# drop rows and frames written twice). Only a rewritten deck (changed protocol, potential or
# md.lammps keys) clears the folder's restart files, log and dump (lammps-deck does), so a new
# setup starts fresh.

import os
import shlex

LAMMPS = MD["lammps"]
LAMMPS_DIR = f"results/md/{MD_RUN}/lammps"
LAMMPS_DECK = job("lammps_deck", MD_RUN)
LAMMPS_JOB = job("lammps", MD_RUN, mpi="wheel")
LAMMPS_OUTPUTS = job("lammps_outputs", MD_RUN)


localrules:
    lammps_deck,


rule lammps_deck:
    input:
        mtp=final_potential,
        start=md_start,
        protocol="results/md/protocols/T{temperature}K.yaml",
    output:
        deck=f"{LAMMPS_DIR}/in.lammps",
        data=f"{LAMMPS_DIR}/data.lammps",
        potential=f"{LAMMPS_DIR}/potential.mtp",
    params:
        workdir=lambda wildcards, output: os.path.dirname(output.deck),
        replicate=REPLICATE,
        species=SPECIES,
        pair_style=LAMMPS["pair_style"],
        restart_every=LAMMPS["restart_every"],
        # testing only (a LAMMPS without MTP): quoted, it holds spaces and ';'
        override=(
            f"--pair-style-override {shlex.quote(LAMMPS['pair_style_override'])}"
            if LAMMPS["pair_style_override"]
            else ""
        ),
        version=MTPFLOW_VERSION,
    log:
        LAMMPS_DECK.log,
    benchmark:
        LAMMPS_DECK.benchmark
    threads: LAMMPS_DECK.threads
    resources:
        **LAMMPS_DECK.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow lammps-deck {input.mtp} {input.start} --protocol {input.protocol} "
        "--replicate {params.replicate} --species {params.species} --seed {wildcards.replica} "
        "--pair-style {params.pair_style} --restart-every {params.restart_every} {params.override} "
        "--outdir {params.workdir} > {log} 2>&1"


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
        launch=mpi_command(LAMMPS["command"]),
        threads_per_rank=LAMMPS_JOB.threads,
        version=MTPFLOW_VERSION,
    log:
        LAMMPS_JOB.log,
    benchmark:
        LAMMPS_JOB.benchmark
    threads: LAMMPS_JOB.threads
    resources:
        **LAMMPS_JOB.resources,
    conda:
        "../envs/mpi.yaml"
    shell:
        "OMP_NUM_THREADS={params.threads_per_rank} mtpflow lammps-run {params.workdir} "
        "--command {params.launch:q} --log {output.log} --dump {output.dump} > {log} 2>&1"


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
        LAMMPS_OUTPUTS.log,
    benchmark:
        LAMMPS_OUTPUTS.benchmark
    threads: LAMMPS_OUTPUTS.threads
    resources:
        **LAMMPS_OUTPUTS.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow lammps-outputs {input.log} {input.dump} --species {params.species} "
        "--timestep-fs {params.timestep_fs} --thermo {output.thermo} --traj {output.traj} > {log} 2>&1"
