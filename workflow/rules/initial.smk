# Random initial configurations per composition and replica (mtpflow build-initial).

RUN = "{composition}/r{replica}"


rule build_initial:
    output:
        start="results/initial/{composition}/r{replica}/start.extxyz",
    params:
        formula=formula,
        density_factor=density_factor,
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        log_path("build_initial", RUN),
    benchmark:
        bench_path("build_initial", RUN)
    threads: res("build_initial", "threads")
    resources:
        mem_mb=res("build_initial", "mem_mb"),
        runtime=res("build_initial", "runtime"),
    conda:
        "../envs/reference.yaml"
    shell:
        "mtpflow build-initial --formula {params.formula} --density-factor {params.density_factor} "
        "--seed {wildcards.replica} --species {params.species} --out {output.start} > {log} 2>&1"
