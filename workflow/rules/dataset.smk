# AIMD frames -> .cfg (collect), multi-density single points (densify), train/test split (dataset).

DENSIFY = config["densify"]
COLLECT = config["collect"]


rule collect:
    input:
        traj="results/aimd/{composition}/r{replica}/traj.extxyz",
    output:
        cfg="results/collect/{composition}/r{replica}/melt.cfg",
    params:
        options=" ".join(
            o
            for o in (
                opt("--skip-ps", COLLECT.get("skip_ps")),
                opt("--every", COLLECT.get("every")),
            )
            if o
        ),
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        log_path("collect", RUN),
    benchmark:
        bench_path("collect", RUN)
    threads: res("collect", "threads")
    resources:
        mem_mb=res("collect", "mem_mb"),
        runtime=res("collect", "runtime"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow collect {input.traj} {params.options} --species {params.species} "
        "--out {output.cfg} > {log} 2>&1"


if ENGINE != "vasp":  # the VASP route: workflow/rules/vasp.smk

    rule densify:
        input:
            cfg="results/collect/{composition}/r{replica}/melt.cfg",
        output:
            cfg="results/densify/{composition}/r{replica}/multi_density.cfg",
        params:
            engine=config["reference"]["engine"],
            volume_factors=",".join(str(v) for v in DENSIFY["volume_factors"]),
            options=opt("--every", DENSIFY.get("every")),
            species=SPECIES,
            version=MTPFLOW_VERSION,
        log:
            log_path("densify", RUN),
        benchmark:
            bench_path("densify", RUN)
        threads: res("densify", "threads")
        resources:
            mem_mb=res("densify", "mem_mb"),
            runtime=res("densify", "runtime"),
        conda:
            "../envs/reference.yaml"
        shell:
            "OMP_NUM_THREADS={threads} mtpflow densify {input.cfg} --engine {params.engine} "
            "--volume-factors {params.volume_factors} {params.options} --threads {threads} "
            "--species {params.species} --out {output.cfg} > {log} 2>&1"


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
        test_fraction=config["dataset"]["test_fraction"],
        seed=config["dataset"]["seed"],
        options=opt("--block-size", config["dataset"].get("block_size")),
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        log_path("dataset"),
    benchmark:
        bench_path("dataset")
    threads: res("dataset", "threads")
    resources:
        mem_mb=res("dataset", "mem_mb"),
        runtime=res("dataset", "runtime"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow dataset {input} --test-fraction {params.test_fraction} --seed {params.seed} "
        "{params.options} --species {params.species} --train {output.train} "
        "--test {output.test} --summary {output.summary} > {log} 2>&1"


TARGETS.append("results/dataset/summary.csv")
REPORT_INPUTS["dataset_summary"].append("results/dataset/summary.csv")
