# Random initial configurations per composition and replica (mtpflow build-initial).

RUN = "{composition}/r{replica}"
BUILD_INITIAL = job("build_initial", RUN)


rule build_initial:
    output:
        start="results/initial/{composition}/r{replica}/start.extxyz",
    params:
        formula=formula,
        density_factor=density_factor,
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        BUILD_INITIAL.log,
    benchmark:
        BUILD_INITIAL.benchmark
    threads: BUILD_INITIAL.threads
    resources:
        **BUILD_INITIAL.resources,
    conda:
        "../envs/reference.yaml"
    shell:
        "mtpflow build-initial --formula {params.formula} --density-factor {params.density_factor} "
        "--seed {wildcards.replica} --species {params.species} --out {output.start} > {log} 2>&1"
