# The self-contained HTML report over every wired stage (mtpflow report).


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
        title=config["report"].get("title", "mtpflow report"),
        args=report_args,
        version=MTPFLOW_VERSION,
    log:
        log_path("report"),
    benchmark:
        bench_path("report")
    threads: res("report", "threads")
    resources:
        mem_mb=res("report", "mem_mb"),
        runtime=res("report", "runtime"),
    conda:
        "../envs/mtpflow.yaml"
    shell:
        "mtpflow report --out {output.html} --title {params.title:q} {params.args} > {log} 2>&1"


TARGETS.append("results/report/report.html")
