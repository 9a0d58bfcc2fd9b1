# MLMD on LAMMPS (md.engine: lammps; included by md.smk): mtpflow lammps-deck writes one deck per
# run into a working folder results/md/<run>/lammps/; for each part of the run (equilibration,
# production/seg000, ...: md.smk) mtpflow lammps-run starts `{mpi} -n {tasks} <md.lammps.command>
# -in in.lammps -var part NAME -var stop N [-var from PREVIOUS]` there (srun under profiles/slurm,
# mpiexec locally), continuing from the previous part's final restart file, and once step N is
# reached links the part's log, dump and final restart file out; mtpflow lammps-outputs turns
# them into the <part>.csv and <part>.extxyz the embedded route writes (dropping the start step's
# row and frame, which the previous part holds).
#
# Restarts: the working folder is never an output, so Snakemake keeps it when a job fails or is
# stopped by its time limit; rerunning the workflow starts LAMMPS again in the same folder, and the
# part continues from the newer of its own restart files (log and dump are appended; the
# converters drop rows and frames written twice). A part's files of another job (another deck,
# stop step or previous part: its stamp <part>.job says) are removed by lammps-run, and a rewritten
# deck (changed protocol, potential or md.lammps keys) clears every part's files (lammps-deck).

import os
import shlex

LAMMPS = MD["lammps"]
LAMMPS_DIR = f"results/md/{MD_RUN}/lammps"
LAMMPS_DECK = job("lammps_deck", MD_RUN)
LAMMPS_JOB = job("lammps", f"{MD_RUN}/{{part}}", mpi="wheel")
LAMMPS_OUTPUTS = job("lammps_outputs", f"{MD_RUN}/{{part}}")


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
        # the previous part's final restart file (none for the equilibration)
        previous=md_previous(".restart"),
    output:
        # links to the working folder's files (copies where links are impossible), declared here
        # so that a failed job never deletes the files a rerun appends to
        log=f"results/md/{MD_RUN}/{{part}}.lammps.log",
        dump=f"results/md/{MD_RUN}/{{part}}.lammpstrj",
        restart=f"results/md/{MD_RUN}/{{part}}.restart",
    params:
        workdir=lambda wildcards, input: os.path.dirname(input.deck),
        launch=mpi_command(LAMMPS["command"]),
        threads_per_rank=LAMMPS_JOB.threads,
        part=lambda wildcards: os.path.basename(wildcards.part),
        stop=md_stop_step,
        continue_from=lambda wildcards, input: opt("--continue-from", input.previous),
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
        "--command {params.launch:q} --part {params.part} --stop-at-step {params.stop} "
        "{params.continue_from} --log {output.log} --dump {output.dump} "
        "--restart-out {output.restart} > {log} 2>&1"


rule lammps_outputs:
    input:
        log=f"results/md/{MD_RUN}/{{part}}.lammps.log",
        dump=f"results/md/{MD_RUN}/{{part}}.lammpstrj",
    output:
        traj=f"results/md/{MD_RUN}/{{part}}.extxyz",
        thermo=report(
            f"results/md/{MD_RUN}/{{part}}.csv",
            category="MLMD",
            caption="../report/thermo.rst",
        ),
    params:
        species=SPECIES,
        timestep_fs=MD["timestep_fs"],
        # a continued part's first row and frame are the previous part's last
        after=lambda wildcards: opt("--after-step", md_start_step(wildcards)),
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
        "--timestep-fs {params.timestep_fs} {params.after} --thermo {output.thermo} "
        "--traj {output.traj} > {log} 2>&1"
