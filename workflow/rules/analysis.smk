# Dynamic heterogeneity per MLMD run (mtpflow analyze over its production segments in step order,
# read as one trajectory) and the composition sweep.

ANALYSIS = config["analysis"]
ANALYZE = job("analyze", MD_RUN)


rule analyze:
    input:
        traj=lambda w: md_run_files(w, ".extxyz", parts="production"),
    output:
        outdir=directory(f"results/analysis/{MD_RUN}"),
    params:
        species=ANALYSIS["species"],
        # lags_ps and hop_distance_A null: the analysis chooses them (see the schema)
        options=" ".join(
            o
            for o in (
                opt("--lags-ps", ANALYSIS["lags_ps"]),
                opt("--hop-distance", ANALYSIS["hop_distance_A"]),
                opt("--hop-window", ANALYSIS["hop_window_A"]),
                opt("--cascade-radius", ANALYSIS["cascade_radius_A"]),
                opt("--cascade-window", ANALYSIS["cascade_window_ps"]),
            )
            if o
        ),
        version=MTPFLOW_VERSION,
    log:
        ANALYZE.log,
    benchmark:
        ANALYZE.benchmark
    threads: ANALYZE.threads
    resources:
        **ANALYZE.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "NUMBA_NUM_THREADS={threads} OMP_NUM_THREADS={threads} "
        "mtpflow analyze {input.traj} --species {params.species} "
        "--temperature-K {wildcards.temperature} {params.options} "
        "--outdir {output.outdir} --json {output.outdir}/summary.json > {log} 2>&1"


SWEEP = job("sweep", "L{level}")


rule sweep:
    input:
        sweep_inputs,
    output:
        csv=report(
            "results/sweep/L{level}/sweep.csv",
            category="Composition sweep",
            caption="../report/sweep.rst",
        ),
    params:
        version=MTPFLOW_VERSION,
    log:
        SWEEP.log,
    benchmark:
        SWEEP.benchmark
    threads: SWEEP.threads
    resources:
        **SWEEP.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow sweep {input} --out {output.csv} > {log} 2>&1"


TARGETS.extend(expand("results/sweep/L{level}/sweep.csv", level=LEVELS))
REPORT_INPUTS["analysis"].extend(md_run_dir(run).replace("results/md/", "results/analysis/", 1) for run in MD_RUNS)
REPORT_INPUTS["sweep"].extend(expand("results/sweep/L{level}/sweep.csv", level=LEVELS))
