# The self-contained HTML report over every wired stage (mtpflow report), saying what produced
# it: the config as used (written by the localrule config_used), the reference data, the trained
# potentials, each MD run's protocol with its thermo files, and the per-rule benchmarks.
import json


CONFIG_USED_JOB = job("config_used")


localrules:
    config_used,


rule config_used:
    # The config as Snakemake holds it (validated; schema defaults applied by common.smk), so
    # the report shows exactly what ran. The text is a param: any config change rewrites it.
    output:
        yaml="results/report/config_used.yaml",
    params:
        text=yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False),
    log:
        CONFIG_USED_JOB.log,
    benchmark:
        CONFIG_USED_JOB.benchmark
    threads: CONFIG_USED_JOB.threads
    resources:
        **CONFIG_USED_JOB.resources,
    run:
        write_yaml(output.yaml, yaml.safe_load(params.text), log[0])


# (protocol, thermo files in step order: equilibration, production segments) of every MLMD run
REPORT_MD_RUNS = [(f"results/md/protocols/T{run.temperature}K.yaml", md_run_files(run, ".csv")) for run in MD_RUNS]

REPORT_JOB = job("report")


rule report:
    input:
        **REPORT_INPUTS,
        config_used="results/report/config_used.yaml",
        reference_data=["results/dataset/train.cfg", "results/dataset/test.cfg"],
        potentials=[final_potential(SimpleNamespace(level=level)) for level in LEVELS],
        protocols=sorted({protocol for protocol, _ in REPORT_MD_RUNS}),
    output:
        html=report(
            "results/report/report.html",
            category="Report",
            caption="../report/report.rst",
        ),
    params:
        title=config["report"]["title"],
        args=report_args,
        # --md-run PROTOCOL THERMO... per MLMD run
        md_runs=" ".join(f"--md-run {protocol} {' '.join(thermo)}" for protocol, thermo in REPORT_MD_RUNS),
        benchmarks="logs/benchmarks",
        version=MTPFLOW_VERSION,
    log:
        REPORT_JOB.log,
    benchmark:
        REPORT_JOB.benchmark
    threads: REPORT_JOB.threads
    resources:
        **REPORT_JOB.resources,
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow report --out {output.html} --title {params.title:q} {params.args} "
        "--config-used {input.config_used} --reference-data {input.reference_data} "
        "--potential {input.potentials} {params.md_runs} --benchmarks {params.benchmarks} "
        "> {log} 2>&1"


TARGETS.append("results/report/report.html")
