# Reference AIMD from each random start with the embedded engine (mtpflow aimd).

AIMD = config["aimd"]


if ENGINE != "vasp":  # the VASP route: workflow/rules/vasp.smk
    AIMD_JOB = job("aimd", RUN)

    rule aimd:
        input:
            start="results/initial/{composition}/r{replica}/start.extxyz",
        output:
            traj="results/aimd/{composition}/r{replica}/traj.extxyz",
        params:
            engine=ENGINE,
            temperature_K=AIMD["temperature_K"],
            timestep_fs=AIMD["timestep_fs"],
            steps=AIMD["steps"],
            prerelax_steps=AIMD["prerelax_steps"],
            every=AIMD["every"],
            species=SPECIES,
            version=MTPFLOW_VERSION,
        log:
            AIMD_JOB.log,
        benchmark:
            AIMD_JOB.benchmark
        threads: AIMD_JOB.threads
        resources:
            **AIMD_JOB.resources,
        conda:
            "../envs/reference.yaml"
        shell:
            "OMP_NUM_THREADS={threads} mtpflow aimd {input.start} --engine {params.engine} "
            "--temperature-K {params.temperature_K} --timestep-fs {params.timestep_fs} "
            "--steps {params.steps} --prerelax-steps {params.prerelax_steps} --every {params.every} "
            "--seed {wildcards.replica} --threads {threads} "
            "--species {params.species} --traj {output.traj} > {log} 2>&1"
