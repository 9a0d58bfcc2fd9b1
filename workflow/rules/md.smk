# Machine-learning MD per MTP level, composition, production temperature and replica, as a chain
# of jobs ("parts") that continue each other: results/md/<run>/equilibration.{extxyz,csv,ckpt}
# (melt + quench, from step 0) and results/md/<run>/production/seg000, seg001, ... (md.segment_ps
# of production each; one segment when it is null), each starting from the previous part's final
# checkpoint. Step numbers are global: the parts' thermo rows and frames, concatenated in order,
# are one uninterrupted run's (byte for byte on the embedded route). The analysis reads the
# production segments as one trajectory.
#
# Restarts: every part is a restartable job. Embedded (mtpflow md --auto-resume): its checkpoints
# (every md.checkpoint_every steps) and unfinished outputs are <name>.part files beside the
# outputs, which Snakemake neither declares nor removes; a job killed by a time limit or a
# SIGKILL continues from its last checkpoint when the workflow is rerun. LAMMPS (md.engine:
# lammps, lammps.smk): the same with the deck's restart files in results/md/<run>/lammps/.

MD = config["md"]
REPLICATE = ",".join(str(n) for n in MD["replicate"])
MD_PROTOCOL = job("md_protocol", "T{temperature}K")


localrules:
    md_protocol,


rule md_protocol:
    output:
        protocol="results/md/protocols/T{temperature}K.yaml",
    params:
        protocol=md_protocol,
    log:
        MD_PROTOCOL.log,
    benchmark:
        MD_PROTOCOL.benchmark
    threads: MD_PROTOCOL.threads
    resources:
        **MD_PROTOCOL.resources,
    run:
        write_yaml(output.protocol, params.protocol, log[0])


if MD["engine"] == "lammps":

    include: "lammps.smk"


else:
    MD_JOB = job("md", f"{MD_RUN}/{{part}}")

    rule md:
        input:
            mtp=final_potential,
            start=md_start,
            protocol="results/md/protocols/T{temperature}K.yaml",
            # the previous part's final checkpoint (none for the equilibration)
            previous=md_previous(".ckpt"),
        output:
            traj=f"results/md/{MD_RUN}/{{part}}.extxyz",
            thermo=report(
                f"results/md/{MD_RUN}/{{part}}.csv",
                category="MLMD",
                caption="../report/thermo.rst",
            ),
            checkpoint=f"results/md/{MD_RUN}/{{part}}.ckpt",
        params:
            replicate=REPLICATE,
            species=SPECIES,
            stop=md_stop_step,
            continue_from=lambda w, input: opt("--continue-from", input.previous),
            checkpoint_every=MD["checkpoint_every"],
            version=MTPFLOW_VERSION,
        log:
            MD_JOB.log,
        benchmark:
            MD_JOB.benchmark
        threads: MD_JOB.threads
        resources:
            **MD_JOB.resources,
        conda:
            "../envs/mpi.yaml"
        shell:
            "NUMBA_NUM_THREADS={threads} OMP_NUM_THREADS={threads} "
            "mtpflow md {input.mtp} {input.start} --protocol {input.protocol} "
            "--replicate {params.replicate} --species {params.species} --seed {wildcards.replica} "
            "--threads {threads} {params.continue_from} --stop-at-step {params.stop} "
            "--checkpoint {output.checkpoint} --checkpoint-every {params.checkpoint_every} --auto-resume "
            "--traj {output.traj} --thermo {output.thermo} > {log} 2>&1"


MD_RUNS = [
    SimpleNamespace(level=lv, composition=comp, temperature=temp, replica=rep)
    for lv in LEVELS
    for comp in MD_COMPOSITIONS
    for temp in MD_TEMPERATURES
    for rep in MD_REPLICAS
]
REPORT_INPUTS["thermo"].extend(f for run in MD_RUNS for f in md_run_files(run, ".csv"))
