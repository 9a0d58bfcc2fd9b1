# MTP training with MPI (mtpflow train under mpiexec or srun) and validation (mtpflow calc-errors).

TRAIN = config["train"]


rule train:
    input:
        init="results/mtp/L{level}/init.mtp",
        train="results/dataset/train.cfg",
    output:
        mtp="results/mtp/L{level}/trained.mtp",
        log=report(
            "results/mtp/L{level}/train_log.csv",
            category="Training",
            caption="../report/train.rst",
        ),
    params:
        energy_weight=TRAIN["energy_weight"],
        force_weight=TRAIN["force_weight"],
        stress_weight=TRAIN["stress_weight"],
        max_iter=TRAIN["max_iter"],
        options=" ".join(
            o
            for o in (
                opt("--tolerance", TRAIN.get("tolerance")),
                opt("--seed", TRAIN.get("seed")),
            )
            if o
        ),
        species=SPECIES,
        threads_per_rank=res("train", "threads"),
        version=MTPFLOW_VERSION,
    log:
        log_path("train", "L{level}"),
    benchmark:
        bench_path("train", "L{level}")
    threads: res("train", "threads")
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        tasks=res("train", "tasks"),
        mpi=mpi_launcher(res("train", "mpi")),
    conda:
        "../envs/mpi.yaml"
    shell:
        "OMP_NUM_THREADS={params.threads_per_rank} NUMBA_NUM_THREADS={params.threads_per_rank} "
        "{resources.mpi} -n {resources.tasks} mtpflow train {input.init} {input.train} "
        "--species {params.species} --energy-weight {params.energy_weight} "
        "--force-weight {params.force_weight} --stress-weight {params.stress_weight} "
        "--max-iter {params.max_iter} {params.options} "
        "--out {output.mtp} --log {output.log} > {log} 2>&1"


rule calc_errors:
    input:
        mtp="results/mtp/L{level}/trained.mtp",
        test="results/dataset/test.cfg",
    output:
        json="results/validation/L{level}/errors.json",
        csv="results/validation/L{level}/per_config.csv",
        plots=report(
            directory("results/validation/L{level}/parity"),
            patterns=["{name}.png"],
            category="Validation",
            caption="../report/parity.rst",
        ),
    params:
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        log_path("calc_errors", "L{level}"),
    benchmark:
        bench_path("calc_errors", "L{level}")
    threads: res("calc_errors", "threads")
    resources:
        mem_mb=res("calc_errors", "mem_mb"),
        runtime=res("calc_errors", "runtime"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "NUMBA_NUM_THREADS={threads} mtpflow calc-errors {input.mtp} {input.test} "
        "--species {params.species} --json {output.json} --csv {output.csv} "
        "--plots {output.plots} > {log} 2>&1"


TARGETS.extend(expand("results/validation/L{level}/errors.json", level=LEVELS))
REPORT_INPUTS["train_log"].extend(expand("results/mtp/L{level}/train_log.csv", level=LEVELS))
REPORT_INPUTS["errors"].extend(expand("results/validation/L{level}/errors.json", level=LEVELS))
REPORT_INPUTS["parity_plots"].extend(expand("results/validation/L{level}/parity", level=LEVELS))
