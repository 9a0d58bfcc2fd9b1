# Active learning per MTP level (active_learning.iterations > 0; included by the Snakefile).
# Iteration k (results/al/L<level>/iter<k>/), with potential k-1 and training set k-1 (k = 1: the
# trained potential of results/mtp and the dataset's train.cfg):
#   al_explore   short MD with extrapolation control from the composition's AIMD frame, per
#                temperature x density factor (mtpflow md --grade-train ... --grade-status: a stop by
#                extrapolation is an outcome, recorded in status.json, exit status 0)
#   al_select    (a checkpoint) one selection over everything the runs saved (mtpflow al-select):
#                selected.cfg and record.json
#   al_label     reference single points of the selection (mtpflow densify --as-is: CHGNet, or
#                VASP's static runs as vasp_al_label when reference.engine is vasp)
#   al_extend    training set k = training set k-1 + the labelled selection (mtpflow al-extend)
#   al_train     retraining from potential k-1's coefficients (mtpflow train --init-from, MPI)
#   al_errors    the test set's errors of potential k (mtpflow calc-errors)
# The loop stops when an iteration selects nothing or after active_learning.iterations. Snakemake
# fixes its DAG before it runs, so the stop is read from al_select's record through a checkpoint:
# iteration k+1 exists in the DAG only once iteration k's record says it selected something, and
# no job of an iteration after convergence is ever planned (a dry run shows the jobs up to the
# first al_select). al_final copies the potential the loop ended with to final.mtp (validation, MD
# and the report use it: final_potential in common.smk); al_summary writes summary.csv, one row
# per iteration run (row 0: the potential before active learning). Paths and helpers (al_potential,
# al_train_set, al_iterations_run, ...) are in common.smk.
AL_EXPLORE = job("al_explore", f"L{{level}}/iter{{iteration}}/{AL_RUN}")


rule al_explore:
    input:
        mtp=lambda wildcards: al_potential(wildcards.level, int(wildcards.iteration) - 1),
        train=lambda wildcards: al_train_set(wildcards.level, int(wildcards.iteration) - 1),
        start=md_start,
    output:
        traj=f"{AL_ITER}/explore/{AL_RUN}/traj.extxyz",
        thermo=f"{AL_ITER}/explore/{AL_RUN}/thermo.csv",
        extrapolative=f"{AL_ITER}/explore/{AL_RUN}/extrapolative.cfg",
        status=f"{AL_ITER}/explore/{AL_RUN}/status.json",
    wildcard_constraints:
        iteration=r"[1-9]\d*",
        density=r"[0-9.]+",
    params:
        steps=AL["steps"],
        timestep_fs=AL["timestep_fs"],
        replicate=AL_REPLICATE,
        grade_save=AL["grade_save"],
        grade_break=AL["grade_break"],
        grade_every=AL["grade_every"],
        grade_mode=AL["grade_mode"],
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        AL_EXPLORE.log,
    benchmark:
        AL_EXPLORE.benchmark
    threads: AL_EXPLORE.threads
    resources:
        **AL_EXPLORE.resources,
    conda:
        "../envs/mpi.yaml"
    shell:
        "NUMBA_NUM_THREADS={threads} OMP_NUM_THREADS={threads} "
        "mtpflow md {input.mtp} {input.start} --density-factor {wildcards.density} "
        "--replicate {params.replicate} --ensemble nvt --temperature-K {wildcards.temperature} "
        "--steps {params.steps} --timestep-fs {params.timestep_fs} --seed {wildcards.iteration} "
        "--species {params.species} --threads {threads} --grade-train {input.train} "
        "--grade-save {params.grade_save} --grade-break {params.grade_break} "
        "--grade-every {params.grade_every} --grade-mode {params.grade_mode} "
        "--extrapolative {output.extrapolative} --grade-status {output.status} "
        "--traj {output.traj} --thermo {output.thermo} > {log} 2>&1"


AL_SELECT = job("al_select", "L{level}/iter{iteration}")


checkpoint al_select:
    input:
        mtp=lambda wildcards: al_potential(wildcards.level, int(wildcards.iteration) - 1),
        train=lambda wildcards: al_train_set(wildcards.level, int(wildcards.iteration) - 1),
        candidates=lambda wildcards: [f"{run}/extrapolative.cfg" for run in al_explore_runs(wildcards)],
        status=lambda wildcards: [f"{run}/status.json" for run in al_explore_runs(wildcards)],
    output:
        selected=f"{AL_ITER}/selected.cfg",
        record=f"{AL_ITER}/record.json",
    wildcard_constraints:
        iteration=r"[1-9]\d*",
    params:
        threshold=AL["select_threshold"],
        max_selected=opt("--max-configs", AL["max_selected"]),
        grade_mode=AL["grade_mode"],
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        AL_SELECT.log,
    benchmark:
        AL_SELECT.benchmark
    threads: AL_SELECT.threads
    resources:
        **AL_SELECT.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "NUMBA_NUM_THREADS={threads} mtpflow al-select {input.mtp} {input.train} "
        "--candidates {input.candidates} --status {input.status} --iteration {wildcards.iteration} "
        "--threshold {params.threshold} {params.max_selected} --mode {params.grade_mode} "
        "--species {params.species} --threads {threads} --out {output.selected} "
        "--record {output.record} > {log} 2>&1"


if ENGINE != "vasp":
    AL_LABEL = job("al_label", "L{level}/iter{iteration}")

    rule al_label:
        input:
            selected=f"{AL_ITER}/selected.cfg",
        output:
            cfg=f"{AL_ITER}/labelled.cfg",
        params:
            engine=ENGINE,
            species=SPECIES,
            version=MTPFLOW_VERSION,
        log:
            AL_LABEL.log,
        benchmark:
            AL_LABEL.benchmark
        threads: AL_LABEL.threads
        resources:
            **AL_LABEL.resources,
        conda:
            "../envs/reference.yaml"
        shell:
            "OMP_NUM_THREADS={threads} mtpflow densify {input.selected} --as-is --engine {params.engine} "
            "--threads {threads} --species {params.species} --out {output.cfg} > {log} 2>&1"


else:
    VASP_AL_LABEL = job("vasp_al_label", "L{level}/iter{iteration}", mpi="system")

    rule vasp_al_label:
        input:
            selected=f"{AL_ITER}/selected.cfg",
        output:
            cfg=f"{AL_ITER}/labelled.cfg",
        params:
            runs="results/vasp/al/L{level}/iter{iteration}",
            launch=mpi_command(config["reference"]["vasp"]["command"]),
            options=vasp_options(),
            incar=incar_option(config["reference"]["vasp"]["static_incar"]),
            species=SPECIES,
            version=MTPFLOW_VERSION,
        log:
            VASP_AL_LABEL.log,
        benchmark:
            VASP_AL_LABEL.benchmark
        threads: VASP_AL_LABEL.threads
        resources:
            **VASP_AL_LABEL.resources,
        conda:
            "../envs/mtpflow.yaml"
        shell:
            "mtpflow densify {input.selected} --as-is --engine vasp --vasp-dir {params.runs} "
            "--vasp-command {params.launch:q} {params.options} {params.incar} "
            "--species {params.species} --out {output.cfg} > {log} 2>&1"


AL_EXTEND = job("al_extend", "L{level}/iter{iteration}")


rule al_extend:
    input:
        previous=lambda wildcards: al_train_set(wildcards.level, int(wildcards.iteration) - 1),
        labelled=f"{AL_ITER}/labelled.cfg",
    output:
        cfg=f"{AL_ITER}/train.cfg",
    wildcard_constraints:
        iteration=r"[1-9]\d*",
    params:
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        AL_EXTEND.log,
    benchmark:
        AL_EXTEND.benchmark
    threads: AL_EXTEND.threads
    resources:
        **AL_EXTEND.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow al-extend {input.previous} {input.labelled} --species {params.species} "
        "--out {output.cfg} > {log} 2>&1"


AL_TRAIN = job("al_train", "L{level}/iter{iteration}", mpi="wheel")


rule al_train:
    input:
        init="results/mtp/L{level}/init.mtp",
        train=f"{AL_ITER}/train.cfg",
        start=lambda wildcards: al_potential(wildcards.level, int(wildcards.iteration) - 1),
    output:
        mtp=f"{AL_ITER}/trained.mtp",
        log=f"{AL_ITER}/train_log.csv",
    wildcard_constraints:
        iteration=r"[1-9]\d*",
    params:
        energy_weight=TRAIN["energy_weight"],
        force_weight=TRAIN["force_weight"],
        stress_weight=TRAIN["stress_weight"],
        max_iter=TRAIN["max_iter"],
        tolerance=TRAIN["tolerance"],
        species=SPECIES,
        threads_per_rank=AL_TRAIN.threads,
        version=MTPFLOW_VERSION,
    log:
        AL_TRAIN.log,
    benchmark:
        AL_TRAIN.benchmark
    threads: AL_TRAIN.threads
    resources:
        **AL_TRAIN.resources,
    conda:
        "../envs/mpi.yaml"
    shell:
        "OMP_NUM_THREADS={params.threads_per_rank} NUMBA_NUM_THREADS={params.threads_per_rank} "
        "{resources.mpi} -n {resources.tasks} mtpflow train {input.init} {input.train} "
        "--init-from {input.start} --species {params.species} "
        "--energy-weight {params.energy_weight} --force-weight {params.force_weight} "
        "--stress-weight {params.stress_weight} --max-iter {params.max_iter} "
        "--tolerance {params.tolerance} --out {output.mtp} --log {output.log} > {log} 2>&1"


AL_ERRORS = job("al_errors", "L{level}/iter{iteration}")


rule al_errors:
    input:
        mtp=lambda wildcards: al_potential(wildcards.level, wildcards.iteration),
        test="results/dataset/test.cfg",
    output:
        json=f"{AL_ITER}/errors.json",
    params:
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        AL_ERRORS.log,
    benchmark:
        AL_ERRORS.benchmark
    threads: AL_ERRORS.threads
    resources:
        **AL_ERRORS.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "NUMBA_NUM_THREADS={threads} mtpflow calc-errors {input.mtp} {input.test} "
        "--species {params.species} --json {output.json} > {log} 2>&1"


AL_FINAL = job("al_final", "L{level}")


rule al_final:
    input:
        # one file: the potential the loop ended with (until the checkpoints have run, Snakemake
        # holds their output here)
        lambda wildcards: al_potential(wildcards.level, al_final_iteration(wildcards.level)),
    output:
        mtp="results/al/L{level}/final.mtp",
    params:
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        AL_FINAL.log,
    benchmark:
        AL_FINAL.benchmark
    threads: AL_FINAL.threads
    resources:
        **AL_FINAL.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow convert {input} {output.mtp} --species {params.species} > {log} 2>&1"


AL_SUMMARY = job("al_summary", "L{level}")


rule al_summary:
    input:
        unpack(al_summary_inputs),
        initial="results/al/L{level}/iter0/errors.json",
        initial_potential="results/mtp/L{level}/trained.mtp",
    output:
        csv=report(
            "results/al/L{level}/summary.csv",
            category="Active learning",
            caption="../report/al.rst",
        ),
    params:
        # (while the loop runs, Snakemake evaluates this before the checkpoints fill the input)
        iterations=lambda wildcards, input: " ".join(
            f"--iteration {r} {e} {p}"
            for r, e, p in zip(*(getattr(input, key, []) for key in ("records", "errors", "potentials")))
        ),
        version=MTPFLOW_VERSION,
    log:
        AL_SUMMARY.log,
    benchmark:
        AL_SUMMARY.benchmark
    threads: AL_SUMMARY.threads
    resources:
        **AL_SUMMARY.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow al-summary --initial {input.initial} --initial-potential {input.initial_potential} "
        "{params.iterations} --out {output.csv} > {log} 2>&1"


TARGETS.extend(expand("results/al/L{level}/summary.csv", level=LEVELS))
REPORT_INPUTS["al_summary"].extend(expand("results/al/L{level}/summary.csv", level=LEVELS))
