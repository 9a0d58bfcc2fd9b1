"""mtpflow: Moment Tensor Potentials from AIMD to dynamic heterogeneity."""

__version__ = "0.1.0"
