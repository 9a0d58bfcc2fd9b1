# Untrained MTP per level (mtpflow init-mtp); training and validation follow in train.smk.

MTP = config["mtp"]


rule init_mtp:
    output:
        mtp="results/mtp/L{level}/init.mtp",
    params:
        species=SPECIES,
        min_dist=MTP.get("min_dist_A", 1.6),
        max_dist=MTP["max_dist_A"],
        radial_basis_size=MTP["radial_basis_size"],
        version=MTPFLOW_VERSION,
    log:
        log_path("init_mtp", "L{level}"),
    benchmark:
        bench_path("init_mtp", "L{level}")
    threads: res("init_mtp", "threads")
    resources:
        mem_mb=res("init_mtp", "mem_mb"),
        runtime=res("init_mtp", "runtime"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow init-mtp --level {wildcards.level} --species {params.species} "
        "--min-dist {params.min_dist} --max-dist {params.max_dist} "
        "--radial-basis-size {params.radial_basis_size} --out {output.mtp} > {log} 2>&1"


TARGETS.extend(expand("results/mtp/L{level}/init.mtp", level=LEVELS))
