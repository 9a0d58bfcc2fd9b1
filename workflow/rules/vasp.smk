# The VASP route (reference.engine: vasp): the AIMD and the multi-density single points run VASP
# (reference.vasp.command) under {resources.mpi} -n {resources.tasks} (srun in profiles/slurm),
# then `mtpflow collect` reads the runs. Replaces the embedded aimd and densify rules.
# The run directories (results/vasp/...) are working folders, not outputs: a failed run keeps its
# vasp.out for inspection, and a rerun starts them afresh.

VASP = config["reference"].get("vasp", {})


rule vasp_aimd:
    input:
        start="results/initial/{composition}/r{replica}/start.extxyz",
    output:
        traj="results/aimd/{composition}/r{replica}/traj.extxyz",
        cfg="results/aimd/{composition}/r{replica}/vasp_aimd.cfg",
    params:
        run="results/vasp/aimd/{composition}/r{replica}",
        command=VASP.get("command", "vasp_std"),
        options=vasp_options("aimd"),
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        log_path("vasp_aimd", RUN),
    benchmark:
        bench_path("vasp_aimd", RUN)
    threads: res("vasp_aimd", "threads")
    resources:
        mem_mb=res("vasp_aimd", "mem_mb"),
        runtime=res("vasp_aimd", "runtime"),
        tasks=res("vasp_aimd", "tasks"),
        mpi=res("vasp_aimd", "mpi"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "(rm -rf {params.run} && mtpflow vasp-inputs {input.start} --outdir {params.run} --kind aimd "
        "--species {params.species} {params.options} "
        "&& echo 'running VASP in {params.run} (output: vasp.out there)' "
        "&& (cd {params.run} && {resources.mpi} -n {resources.tasks} {params.command} > vasp.out 2>&1) "
        "&& mtpflow collect {params.run} --species {params.species} "
        "--out {output.cfg} --extxyz {output.traj}) > {log} 2>&1"


rule vasp_densify:
    input:
        cfg="results/collect/{composition}/r{replica}/melt.cfg",
    output:
        cfg="results/densify/{composition}/r{replica}/multi_density.cfg",
    params:
        runs="results/vasp/densify/{composition}/r{replica}",
        command=VASP.get("command", "vasp_std"),
        volume_factors=",".join(str(v) for v in config["densify"]["volume_factors"]),
        every=opt("--every", config["densify"].get("every")),
        options=vasp_options("static"),
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        log_path("vasp_densify", RUN),
    benchmark:
        bench_path("vasp_densify", RUN)
    threads: res("vasp_densify", "threads")
    resources:
        mem_mb=res("vasp_densify", "mem_mb"),
        runtime=res("vasp_densify", "runtime"),
        tasks=res("vasp_densify", "tasks"),
        mpi=res("vasp_densify", "mpi"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "(rm -rf {params.runs} && mtpflow densify {input.cfg} --engine vasp "
        "--volume-factors {params.volume_factors} {params.every} --species {params.species} "
        "--vasp-dir {params.runs} {params.options} "
        "&& for d in {params.runs}/*/; do echo \"running VASP in $d (output: vasp.out there)\"; "
        "(cd $d && {resources.mpi} -n {resources.tasks} {params.command} > vasp.out 2>&1) || exit 1; done "
        "&& mtpflow collect {params.runs}/*/ --species {params.species} --out {output.cfg}) > {log} 2>&1"
