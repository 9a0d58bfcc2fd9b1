# Untrained MTP per level (mtpflow init-mtp); training and validation follow in train.smk.

MTP = config["mtp"]
INIT_MTP = job("init_mtp", "L{level}")


rule init_mtp:
    output:
        mtp="results/mtp/L{level}/init.mtp",
    params:
        species=SPECIES,
        min_dist=MTP["min_dist_A"],
        max_dist=MTP["max_dist_A"],
        radial_basis_size=MTP["radial_basis_size"],
        version=MTPFLOW_VERSION,
    log:
        INIT_MTP.log,
    benchmark:
        INIT_MTP.benchmark
    threads: INIT_MTP.threads
    resources:
        **INIT_MTP.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow init-mtp --level {wildcards.level} --species {params.species} "
        "--min-dist {params.min_dist} --max-dist {params.max_dist} "
        "--radial-basis-size {params.radial_basis_size} --out {output.mtp} > {log} 2>&1"


TARGETS.extend(expand("results/mtp/L{level}/init.mtp", level=LEVELS))
