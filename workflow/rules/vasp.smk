# The VASP route (reference.engine: vasp): mtpflow aimd and mtpflow densify with --engine vasp write
# the VASP inputs into a fresh run folder (results/vasp/...), start VASP there as
# `{mpi} -n {tasks} <reference.vasp.command>` (srun in profiles/slurm; the launcher as given, VASP
# being built against the machine's MPI) and read the results back. Replaces the embedded aimd and
# densify rules; collect reads the AIMD trajectory as on the embedded route.
# The run folders are working folders, not outputs: a failed run keeps its vasp.out for inspection,
# and a rerun starts them afresh.

VASP = config["reference"]["vasp"]
VASP_AIMD = job("vasp_aimd", RUN, mpi="system")
VASP_DENSIFY = job("vasp_densify", RUN, mpi="system")


rule vasp_aimd:
    input:
        start="results/initial/{composition}/r{replica}/start.extxyz",
    output:
        traj="results/aimd/{composition}/r{replica}/traj.extxyz",
    params:
        run="results/vasp/aimd/{composition}/r{replica}",
        launch=mpi_command(VASP["command"]),
        temperature_K=AIMD["temperature_K"],
        timestep_fs=AIMD["timestep_fs"],
        steps=AIMD["steps"],
        every=AIMD["every"],
        options=vasp_options("aimd"),
        incar=incar_option(VASP["aimd_incar"]),
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        VASP_AIMD.log,
    benchmark:
        VASP_AIMD.benchmark
    threads: VASP_AIMD.threads
    resources:
        **VASP_AIMD.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow aimd {input.start} --engine vasp --vasp-dir {params.run} --vasp-command {params.launch:q} "
        "--temperature-K {params.temperature_K} --timestep-fs {params.timestep_fs} --steps {params.steps} "
        "--every {params.every} {params.options} {params.incar} --species {params.species} "
        "--traj {output.traj} > {log} 2>&1"


rule vasp_densify:
    input:
        cfg="results/collect/{composition}/r{replica}/melt.cfg",
    output:
        cfg="results/densify/{composition}/r{replica}/multi_density.cfg",
    params:
        runs="results/vasp/densify/{composition}/r{replica}",
        launch=mpi_command(VASP["command"]),
        volume_factors=VOLUME_FACTORS,
        every=DENSIFY["every"],
        options=vasp_options(),
        incar=incar_option(VASP["static_incar"]),
        species=SPECIES,
        version=MTPFLOW_VERSION,
    log:
        VASP_DENSIFY.log,
    benchmark:
        VASP_DENSIFY.benchmark
    threads: VASP_DENSIFY.threads
    resources:
        **VASP_DENSIFY.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow densify {input.cfg} --engine vasp --vasp-dir {params.runs} --vasp-command {params.launch:q} "
        "--volume-factors {params.volume_factors} --every {params.every} {params.options} {params.incar} "
        "--species {params.species} --out {output.cfg} > {log} 2>&1"
