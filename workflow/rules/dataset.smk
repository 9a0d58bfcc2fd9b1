# AIMD frames -> .cfg (collect), multi-density single points (densify), train/test split (dataset).

DENSIFY = config["densify"]
COLLECT = config["collect"]
DATASET = config["dataset"]
VOLUME_FACTORS = ",".join(str(v) for v in DENSIFY["volume_factors"])
COLLECT_JOB = job("collect", RUN)


rule collect:
    input:
        traj="results/aimd/{composition}/r{replica}/traj.extxyz",
    output:
        cfg="results/collect/{composition}/r{replica}/melt.cfg",
    params:
        skip_ps=COLLECT["skip_ps"],
        every=COLLECT["every"],
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        COLLECT_JOB.log,
    benchmark:
        COLLECT_JOB.benchmark
    threads: COLLECT_JOB.threads
    resources:
        **COLLECT_JOB.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow collect {input.traj} --skip-ps {params.skip_ps} --every {params.every} "
        "--species {params.species} --out {output.cfg} > {log} 2>&1"


if ENGINE != "vasp":  # the VASP route: workflow/rules/vasp.smk
    DENSIFY_JOB = job("densify", RUN)

    rule densify:
        input:
            cfg="results/collect/{composition}/r{replica}/melt.cfg",
        output:
            cfg="results/densify/{composition}/r{replica}/multi_density.cfg",
        params:
            engine=ENGINE,
            volume_factors=VOLUME_FACTORS,
            every=DENSIFY["every"],
            species=SPECIES,
            version=MTPFLOW_VERSION,
        log:
            DENSIFY_JOB.log,
        benchmark:
            DENSIFY_JOB.benchmark
        threads: DENSIFY_JOB.threads
        resources:
            **DENSIFY_JOB.resources,
        conda:
            "../envs/reference.yaml"
        shell:
            "OMP_NUM_THREADS={threads} mtpflow densify {input.cfg} --engine {params.engine} "
            "--volume-factors {params.volume_factors} --every {params.every} --threads {threads} "
            "--species {params.species} --out {output.cfg} > {log} 2>&1"


DATASET_JOB = job("dataset")


rule dataset:
    input:
        expand(
            "results/densify/{composition}/r{replica}/multi_density.cfg",
            composition=TRAIN_COMPOSITIONS,
            replica=AIMD_REPLICAS,
        ),
    output:
        train="results/dataset/train.cfg",
        test="results/dataset/test.cfg",
        summary=report(
            "results/dataset/summary.csv",
            category="Dataset",
            caption="../report/dataset.rst",
        ),
    params:
        test_fraction=DATASET["test_fraction"],
        seed=DATASET["seed"],
        block_size=DATASET["block_size"],
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        DATASET_JOB.log,
    benchmark:
        DATASET_JOB.benchmark
    threads: DATASET_JOB.threads
    resources:
        **DATASET_JOB.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow dataset {input} --test-fraction {params.test_fraction} --seed {params.seed} "
        "--block-size {params.block_size} --species {params.species} --train {output.train} "
        "--test {output.test} --summary {output.summary} > {log} 2>&1"


TARGETS.append("results/dataset/summary.csv")
REPORT_INPUTS["dataset_summary"].append("results/dataset/summary.csv")
