# Reference AIMD from each random start with the embedded engine (mtpflow aimd).

AIMD = config["aimd"]


if ENGINE != "vasp":  # the VASP route: workflow/rules/vasp.smk

    rule aimd:
        input:
            start="results/initial/{composition}/r{replica}/start.extxyz",
        output:
            traj="results/aimd/{composition}/r{replica}/traj.extxyz",
        params:
            engine=config["reference"]["engine"],
            temperature_K=AIMD["temperature_K"],
            timestep_fs=AIMD["timestep_fs"],
            steps=AIMD["steps"],
            options=" ".join(
                o
                for o in (
                    opt("--prerelax-steps", AIMD.get("prerelax_steps")),
                    opt("--every", AIMD.get("every")),
                )
                if o
            ),
            species=SPECIES,
            version=MTPFLOW_VERSION,
        log:
            log_path("aimd", RUN),
        benchmark:
            bench_path("aimd", RUN)
        threads: res("aimd", "threads")
        resources:
            mem_mb=res("aimd", "mem_mb"),
            runtime=res("aimd", "runtime"),
        conda:
            "../envs/reference.yaml"
        shell:
            "OMP_NUM_THREADS={threads} mtpflow aimd {input.start} --engine {params.engine} "
            "--temperature-K {params.temperature_K} --timestep-fs {params.timestep_fs} "
            "--steps {params.steps} {params.options} --seed {wildcards.replica} --threads {threads} "
            "--species {params.species} --traj {output.traj} > {log} 2>&1"
