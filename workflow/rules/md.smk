# Machine-learning MD per MTP level, composition, production temperature and replica: embedded
# (mtpflow md) or, with md.engine: lammps, a LAMMPS deck run under mpiexec/srun (lammps.smk). Both
# routes write results/md/<run>/traj.extxyz and thermo.csv, so production and analysis are shared.

MD = config["md"]
MD_ENGINE = MD.get("engine", "embedded")


localrules:
    md_protocol,


rule md_protocol:
    output:
        protocol="results/md/protocols/T{temperature}K.yaml",
    params:
        protocol=md_protocol,
    log:
        log_path("md_protocol", "T{temperature}K"),
    benchmark:
        bench_path("md_protocol", "T{temperature}K")
    run:
        write_yaml(output.protocol, params.protocol, log[0])


if MD_ENGINE == "lammps":

    include: "lammps.smk"


else:

    rule md:
        input:
            mtp="results/mtp/L{level}/trained.mtp",
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
            replicate=",".join(str(n) for n in MD["replicate"]),
            species=SPECIES,
            version=MTPFLOW_VERSION,
        log:
            log_path("md", MD_RUN),
        benchmark:
            bench_path("md", MD_RUN)
        threads: res("md", "threads")
        resources:
            mem_mb=res("md", "mem_mb"),
            runtime=res("md", "runtime"),
        conda:
            "../envs/mpi.yaml"
        shell:
            "NUMBA_NUM_THREADS={threads} OMP_NUM_THREADS={threads} "
            "mtpflow md {input.mtp} {input.start} --protocol {input.protocol} "
            "--replicate {params.replicate} --species {params.species} --seed {wildcards.replica} "
            "--threads {threads} --traj {output.traj} --thermo {output.thermo} > {log} 2>&1"


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
        log_path("production", MD_RUN),
    benchmark:
        bench_path("production", MD_RUN)
    threads: res("production", "threads")
    resources:
        mem_mb=res("production", "mem_mb"),
        runtime=res("production", "runtime"),
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
