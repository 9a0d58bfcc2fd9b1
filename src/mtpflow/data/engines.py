"""Reference engines: one interface (structure in -> energy, forces, stress out; an ASE calculator
for the embedded AIMD driver) behind a registry.

- ``chgnet`` (embedded, the default): CHGNet's pretrained universal potential, whose weights ship in
  its PyPI wheel, so it runs offline on CPU. Energies are on the Materials Project PBE/PBE+U scale.
- ``vasp`` (external): runs under SLURM from the directories `mtpflow vasp-inputs` / `mtpflow
  densify --engine vasp` write; `mtpflow collect` reads the results.

Never mix engines in one training set: their energy zero points differ (every configuration
mtpflow writes carries ``Feature EFS_by <engine label>``, and `mtpflow dataset` refuses a mix).
"""

from __future__ import annotations

import os

import numpy as np

from mtpflow.errors import InputError, MtpflowError


def set_threads(threads: int | None = None) -> int:
    """torch intra-op threads: `threads`, else OMP_NUM_THREADS, else the cores this process may use."""
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        threads = int(env) if env.isdigit() and int(env) > 0 else len(os.sched_getaffinity(0))
    if threads < 1:
        raise InputError(f"--threads must be ≥ 1, got {threads}")
    # OpenMP threads that sleep instead of spinning: on a shared node (several jobs on 2 cores)
    # spinning made 2-thread CHGNet steps ~10x slower. Only effective before torch is first loaded.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(threads)
    return threads


class ReferenceEngine:
    name = ""
    label = ""  # written as `Feature EFS_by <label>`
    embedded = False

    def calculator(self):
        raise MtpflowError(f"the {self.name} reference engine is external; it has no in-process "
                           f"calculator")

    def evaluate(self, atoms):
        """A copy of `atoms` with energy, free_energy, forces (eV/Å) and stress (ASE, eV/Å³)
        attached as a SinglePointCalculator."""
        from ase.calculators.singlepoint import SinglePointCalculator

        work = atoms.copy()
        work.calc = self.calculator()
        energy = float(work.get_potential_energy())
        forces = np.array(work.get_forces())
        stress = np.array(work.get_stress(voigt=True))
        check_finite_results(energy, forces, stress, self.name)
        out = atoms.copy()
        out.calc = SinglePointCalculator(out, energy=energy, free_energy=energy, forces=forces,
                                         stress=stress)
        return out


def check_finite_results(energy, forces, stress, engine: str, where: str = "") -> None:
    if not (np.isfinite(energy) and np.all(np.isfinite(forces)) and np.all(np.isfinite(stress))):
        raise MtpflowError(f"the {engine} engine returned NaN/inf{where}; the structure is probably "
                           f"broken (atoms on top of each other); check the input")


class ChgnetEngine(ReferenceEngine):
    name = "chgnet"
    embedded = True

    def __init__(self, threads: int | None = None, model_name: str = "0.3.0"):
        self.threads = threads
        self.model_name = model_name
        self.label = f"CHGNet-{model_name}"
        self._calc = None

    def calculator(self):
        if self._calc is None:
            self.threads = set_threads(self.threads)
            try:
                from chgnet.model import CHGNet
                from chgnet.model.dynamics import CHGNetCalculator
            except ImportError as exc:
                raise MtpflowError("the embedded engine needs CHGNet: pip install 'mtpflow[embedded]' "
                                   "(torch==2.13.0, chgnet==0.4.2)") from exc
            import contextlib
            import sys
            import warnings

            with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = CHGNet.load(model_name=self.model_name, use_device="cpu", verbose=False)
            self._calc = CHGNetCalculator(model=model, use_device="cpu", on_isolated_atoms="ignore")
        return self._calc


class VaspEngine(ReferenceEngine):
    name = "vasp"
    label = "VASP"
    embedded = False

    def evaluate(self, atoms):
        raise MtpflowError("vasp is an external engine: write run directories (mtpflow vasp-inputs or "
                           "mtpflow densify --engine vasp --vasp-dir DIR), run them under SLURM, then "
                           "mtpflow collect them")


ENGINES = {"chgnet": ChgnetEngine, "vasp": VaspEngine}


def get_engine(name: str, threads: int | None = None) -> ReferenceEngine:
    if name not in ENGINES:
        raise InputError(f"unknown reference engine {name!r}; choose one of {', '.join(ENGINES)} "
                         f"(config key 'reference_engine')")
    cls = ENGINES[name]
    return cls(threads=threads) if cls is ChgnetEngine else cls()
