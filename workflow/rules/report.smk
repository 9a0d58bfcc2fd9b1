# The self-contained HTML report over every wired stage (mtpflow report).

REPORT_JOB = job("report")


rule report:
    input:
        **REPORT_INPUTS,
    output:
        html=report(
            "results/report/report.html",
            category="Report",
            caption="../report/report.rst",
        ),
    params:
        title=config["report"]["title"],
        args=report_args,
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
        "mtpflow report --out {output.html} --title {params.title:q} {params.args} > {log} 2>&1"


TARGETS.append("results/report/report.html")
