# Dynamic heterogeneity per MLMD trajectory (mtpflow analyze) and the composition sweep.

ANALYSIS = config["analysis"]


rule analyze:
    input:
        traj=f"results/md/{MD_RUN}/production.extxyz",
    output:
        outdir=directory(f"results/analysis/{MD_RUN}"),
    params:
        species=ANALYSIS["species"],
        options=" ".join(
            o
            for o in (
                opt("--lags-ps", ANALYSIS.get("lags_ps")),
                opt("--hop-distance", ANALYSIS.get("hop_distance_A")),
                opt("--hop-window", ANALYSIS.get("hop_window_A")),
                opt("--cascade-radius", ANALYSIS.get("cascade_radius_A")),
                opt("--cascade-window", ANALYSIS.get("cascade_window_ps")),
            )
            if o
        ),
        version=MTPFLOW_VERSION,
    log:
        log_path("analyze", MD_RUN),
    benchmark:
        bench_path("analyze", MD_RUN)
    threads: res("analyze", "threads")
    resources:
        mem_mb=res("analyze", "mem_mb"),
        runtime=res("analyze", "runtime"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "NUMBA_NUM_THREADS={threads} OMP_NUM_THREADS={threads} "
        "mtpflow analyze {input.traj} --species {params.species} "
        "--temperature-K {wildcards.temperature} {params.options} "
        "--outdir {output.outdir} --json {output.outdir}/summary.json > {log} 2>&1"


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
        log_path("sweep", "L{level}"),
    benchmark:
        bench_path("sweep", "L{level}")
    threads: res("sweep", "threads")
    resources:
        mem_mb=res("sweep", "mem_mb"),
        runtime=res("sweep", "runtime"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow sweep {input} --out {output.csv} > {log} 2>&1"


TARGETS.extend(expand("results/sweep/L{level}/sweep.csv", level=LEVELS))
REPORT_INPUTS["analysis"].extend(run.replace("results/md/", "results/analysis/", 1) for run in MD_RUNS)
REPORT_INPUTS["sweep"].extend(expand("results/sweep/L{level}/sweep.csv", level=LEVELS))
