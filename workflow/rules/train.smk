# MTP training with MPI (mtpflow train under mpiexec or srun) and validation (mtpflow calc-errors).

TRAIN = config["train"]
PLOTS = config["validation"]["plots"]
TRAIN_JOB = job("train", "L{level}", mpi="wheel")


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
        tolerance=TRAIN["tolerance"],
        seed=TRAIN["seed"],
        # the job's restart file, not an output (Snakemake would delete it with a failed job's
        # outputs): a rerun after a kill or time limit continues from it; removed when complete
        checkpoint="results/mtp/L{level}/train.ckpt",
        checkpoint_every=TRAIN["checkpoint_every"],
        species=SPECIES,
        threads_per_rank=TRAIN_JOB.threads,
        version=MTPFLOW_VERSION,
    log:
        TRAIN_JOB.log,
    benchmark:
        TRAIN_JOB.benchmark
    threads: TRAIN_JOB.threads
    resources:
        **TRAIN_JOB.resources,
    conda:
        "../envs/mpi.yaml"
    shell:
        "OMP_NUM_THREADS={params.threads_per_rank} NUMBA_NUM_THREADS={params.threads_per_rank} "
        "{resources.mpi} -n {resources.tasks} mtpflow train {input.init} {input.train} "
        "--species {params.species} --energy-weight {params.energy_weight} "
        "--force-weight {params.force_weight} --stress-weight {params.stress_weight} "
        "--max-iter {params.max_iter} --tolerance {params.tolerance} --seed {params.seed} "
        "--checkpoint {params.checkpoint} --checkpoint-every {params.checkpoint_every} --auto-resume "
        "--out {output.mtp} --log {output.log} > {log} 2>&1"


CALC_ERRORS = job("calc_errors", "L{level}")
# validation.plots: false drops the parity plots (output and option) and the report's plot section.
PARITY = (
    {
        "plots": report(
            directory("results/validation/L{level}/parity"),
            patterns=["{name}.png"],
            category="Validation",
            caption="../report/parity.rst",
        )
    }
    if PLOTS
    else {}
)


rule calc_errors:
    input:
        mtp=final_potential,
        test="results/dataset/test.cfg",
    output:
        json="results/validation/L{level}/errors.json",
        csv="results/validation/L{level}/per_config.csv",
        **PARITY,
    params:
        species=SPECIES,
        plots=lambda wildcards, output: f"--plots {output.plots}" if PLOTS else "",
        version=MTPFLOW_VERSION,
    log:
        CALC_ERRORS.log,
    benchmark:
        CALC_ERRORS.benchmark
    threads: CALC_ERRORS.threads
    resources:
        **CALC_ERRORS.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "NUMBA_NUM_THREADS={threads} mtpflow calc-errors {input.mtp} {input.test} "
        "--species {params.species} --json {output.json} --csv {output.csv} "
        "{params.plots} > {log} 2>&1"


TARGETS.extend(expand("results/validation/L{level}/errors.json", level=LEVELS))
REPORT_INPUTS["train_log"].extend(expand("results/mtp/L{level}/train_log.csv", level=LEVELS))
REPORT_INPUTS["errors"].extend(expand("results/validation/L{level}/errors.json", level=LEVELS))
if PLOTS:
    REPORT_INPUTS["parity_plots"].extend(expand("results/validation/L{level}/parity", level=LEVELS))
