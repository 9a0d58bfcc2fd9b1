# mtpflow workflow: initial configurations → reference AIMD → collection → multi-density single
# points → dataset → MTP training (MPI) → active learning (optional) → validation → MLMD per
# composition/temperature/replica → dynamic-heterogeneity analysis → composition sweep → HTML report.
#
#   snakemake --profile profiles/local            # one machine
#   snakemake --profile profiles/slurm            # SLURM cluster
# Edit config/config.yaml (validated against workflow/schemas/config.schema.yaml).

from snakemake.utils import min_version

min_version("9.0")


# A config given with --configfile replaces the default one as a whole (examples and .test are
# complete configs), so named compositions of the default never leak into another study.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    composition=r"[A-Za-z][A-Za-z0-9_.-]*",
    replica=r"\d+",
    level=r"\d\d",
    temperature=r"\d+",
    part=r"equilibration|production/seg\d{3}",


# Stage files in DAG order; each adds its final outputs to TARGETS and REPORT_INPUTS.
include: "workflow/rules/initial.smk"
include: "workflow/rules/aimd.smk"
include: "workflow/rules/dataset.smk"


if ENGINE == "vasp":

    include: "workflow/rules/vasp.smk"


include: "workflow/rules/mtp.smk"
include: "workflow/rules/train.smk"


if config["active_learning"]["iterations"] > 0:

    include: "workflow/rules/al.smk"


include: "workflow/rules/md.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        TARGETS,
    default_target: True
