# Machine-learning MD per MTP level, composition, production temperature and replica: embedded
# (mtpflow md) or, with md.engine: lammps, a LAMMPS deck run under mpiexec/srun (lammps.smk). Both
# routes write results/md/<run>/traj.extxyz and thermo.csv, so production and analysis are shared.

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
    MD_JOB = job("md", MD_RUN)

    rule md:
        input:
            mtp=final_potential,
            start=md_start,
            protocol="results/md/protocols/T{temperature}K.yaml",
        output:
            traj=f"results/md/{MD_RUN}/traj.extxyz",
            thermo=report(
                f"results/md/{MD_RUN}/thermo.csv",
                category="MLMD",
                caption="../report/thermo.rst",
            ),
        params:
            replicate=REPLICATE,
            species=SPECIES,
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
            "--threads {threads} --traj {output.traj} --thermo {output.thermo} > {log} 2>&1"


PRODUCTION = job("production", MD_RUN)


rule production:
    input:
        traj=f"results/md/{MD_RUN}/traj.extxyz",
    output:
        traj=f"results/md/{MD_RUN}/production.extxyz",
    params:
        index=production_index,
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        PRODUCTION.log,
    benchmark:
        PRODUCTION.benchmark
    threads: PRODUCTION.threads
    resources:
        **PRODUCTION.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow convert {input.traj} {output.traj} --index {params.index} "
        "--species {params.species} > {log} 2>&1"


MD_RUNS = expand(
    f"results/md/{MD_RUN}",
    level=LEVELS,
    composition=MD_COMPOSITIONS,
    temperature=MD_TEMPERATURES,
    replica=MD_REPLICAS,
    allow_missing=True,
)
REPORT_INPUTS["thermo"].extend(f"{run}/thermo.csv" for run in MD_RUNS)
