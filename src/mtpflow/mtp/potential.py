"""The MTP model's parameters and basis tables, as MLIP's .mtp/.almtp files hold them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from mtpflow.errors import InputError


@dataclass(frozen=True)
class SelectionState:
    """MLIP-3's active-learning state: the bytes from its `#MVS_v1.1` line to the end of the file
    (weights, then binary matrices), opaque to mtpflow. It belongs to the model it was selected
    for: `model_digest` is MTPPotential.model_digest() of that model, `source` names the file."""

    data: bytes
    model_digest: str
    source: str = ""


@dataclass
class MTPPotential:
    """A Moment Tensor Potential (see ../shared/docs/mtp.md for the model).

    radial_coeffs     (S, S, radial_funcs_count, radial_basis_size) or None (untrained template)
    alpha_index_basic (n_basic, 4) rows {mu, a, b, c}
    alpha_index_times (n_times, 4) rows {i, j, mult, k}
    alpha_moment_mapping (alpha_scalar_moments,) moment index of each basis function
    species_coeffs    (S,) eV or None;  moment_coeffs (alpha_scalar_moments,) or None
    species           element of each type (mtpflow metadata; MLIP files have none) or None
    metadata          further mtpflow key/value metadata (e.g. training-set hash)
    selection         MLIP-3's active-learning state read with the file, or None; written back only
                      while model_digest() still equals the one it was read with
    """

    species_count: int
    min_dist: float
    max_dist: float
    radial_basis_size: int
    radial_funcs_count: int
    alpha_moments_count: int
    alpha_index_basic: np.ndarray
    alpha_index_times: np.ndarray
    alpha_moment_mapping: np.ndarray
    radial_coeffs: np.ndarray | None = None
    species_coeffs: np.ndarray | None = None
    moment_coeffs: np.ndarray | None = None
    scaling: float = 1.0
    version: str = "1.1.0"
    potential_name: str = "MTP1m"
    potential_tag: str = ""
    radial_basis_type: str = "RBChebyshev"
    species: list[str] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    write_scaling: bool | None = None  # None: write `scaling` only for trained potentials
    selection: SelectionState | None = None

    def __post_init__(self):
        self.alpha_index_basic = np.asarray(self.alpha_index_basic, dtype=np.int64).reshape(-1, 4)
        self.alpha_index_times = np.asarray(self.alpha_index_times, dtype=np.int64).reshape(-1, 4)
        self.alpha_moment_mapping = np.asarray(self.alpha_moment_mapping, dtype=np.int64).reshape(-1)
        if self.radial_coeffs is not None:
            self.radial_coeffs = np.asarray(self.radial_coeffs, dtype=np.float64)
        if self.species_coeffs is not None:
            self.species_coeffs = np.asarray(self.species_coeffs, dtype=np.float64).reshape(-1)
        if self.moment_coeffs is not None:
            self.moment_coeffs = np.asarray(self.moment_coeffs, dtype=np.float64).reshape(-1)

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def alpha_scalar_moments(self) -> int:
        return len(self.alpha_moment_mapping)

    @property
    def alpha_index_basic_count(self) -> int:
        return len(self.alpha_index_basic)

    @property
    def alpha_index_times_count(self) -> int:
        return len(self.alpha_index_times)

    @property
    def is_trained(self) -> bool:
        return (self.radial_coeffs is not None and self.species_coeffs is not None
                and self.moment_coeffs is not None)

    @property
    def level(self) -> int:
        """The largest level among the basis functions (level of M_{mu,nu} = 2 + 4 mu + nu)."""
        return int(max(moment_levels(self)[self.alpha_moment_mapping]))

    def n_params(self) -> int:
        s, r, b = self.species_count, self.radial_funcs_count, self.radial_basis_size
        return s * s * r * b + s + self.alpha_scalar_moments

    def model_digest(self) -> str:
        """SHA-256 of everything that determines the energies (sizes, distances, scaling, tables,
        coefficients); names, tags and metadata do not enter it."""
        h = hashlib.sha256()
        h.update(repr((self.radial_basis_type, int(self.species_count), float(self.min_dist),
                       float(self.max_dist), int(self.radial_basis_size), int(self.radial_funcs_count),
                       int(self.alpha_moments_count), float(self.scaling))).encode())
        for arr in (self.alpha_index_basic, self.alpha_index_times, self.alpha_moment_mapping,
                    self.radial_coeffs, self.species_coeffs, self.moment_coeffs):
            if arr is None:
                h.update(b"none;")
            else:
                a = np.ascontiguousarray(arr, dtype=np.float64 if arr.dtype.kind == "f" else np.int64)
                h.update(repr(a.shape).encode() + a.tobytes() + b";")
        return h.hexdigest()

    # -- checks ----------------------------------------------------------------------------------
    def validate(self, where=None) -> None:
        """Raise InputError when the tables or coefficient shapes are inconsistent."""
        def bad(msg):
            raise InputError(msg, where)

        if self.species_count < 1:
            bad(f"species_count must be >= 1, found {self.species_count}")
        if not (0 <= self.min_dist < self.max_dist < np.inf):
            bad(f"need 0 <= min_dist < max_dist (finite, Å), found min_dist={self.min_dist}, "
                f"max_dist={self.max_dist}")
        if not (np.isfinite(self.scaling) and self.scaling > 0):
            bad(f"scaling must be a positive finite number (MLIP's radial scaling), found {self.scaling}")
        if self.radial_basis_size < 1 or self.radial_funcs_count < 1:
            bad("radial_basis_size and radial_funcs_count must be >= 1")
        nb = self.alpha_index_basic_count
        if nb and (self.alpha_index_basic[:, 0].max() >= self.radial_funcs_count
                   or self.alpha_index_basic.min() < 0):
            bad(f"alpha_index_basic uses a radial function >= radial_funcs_count ({self.radial_funcs_count})")
        if self.alpha_moments_count < nb:
            bad(f"alpha_moments_count {self.alpha_moments_count} < alpha_index_basic_count {nb}")
        t = self.alpha_index_times
        if len(t) and (t[:, [0, 1, 3]].min() < 0 or t[:, [0, 1, 3]].max() >= self.alpha_moments_count):
            bad("alpha_index_times refers to a moment outside 0..alpha_moments_count-1")
        if len(t) and np.any(t[:, 3] < nb):
            bad("alpha_index_times writes into a basic moment")
        m = self.alpha_moment_mapping
        if len(m) and (m.min() < 0 or m.max() >= self.alpha_moments_count):
            bad("alpha_moment_mapping refers to a moment outside 0..alpha_moments_count-1")
        s, r, b = self.species_count, self.radial_funcs_count, self.radial_basis_size
        if self.radial_coeffs is not None and self.radial_coeffs.shape != (s, s, r, b):
            bad(f"radial_coeffs have shape {self.radial_coeffs.shape}, the header needs "
                f"{(s, s, r, b)} (species_count² × radial_funcs_count × radial_basis_size)")
        if self.species_coeffs is not None and self.species_coeffs.shape != (s,):
            bad(f"species_coeffs has {self.species_coeffs.size} values for species_count {s}")
        if self.moment_coeffs is not None and self.moment_coeffs.shape != (len(m),):
            bad(f"moment_coeffs has {self.moment_coeffs.size} values for alpha_scalar_moments {len(m)}")
        if self.species is not None and len(self.species) != s:
            bad(f"{len(self.species)} species names for species_count {s}")
        for name in ("radial_coeffs", "species_coeffs", "moment_coeffs"):
            arr = getattr(self, name)
            if arr is not None and not np.all(np.isfinite(arr)):
                bad(f"{name} contains NaN or inf")

    # -- parameter vector in MLIP's order --------------------------------------------------------
    def get_params(self) -> np.ndarray:
        if not self.is_trained:
            raise ValueError("the potential has no coefficients (an untrained template)")
        return np.concatenate([self.radial_coeffs.ravel(), self.species_coeffs, self.moment_coeffs])

    def set_params(self, params: np.ndarray) -> None:
        s, r, b = self.species_count, self.radial_funcs_count, self.radial_basis_size
        n_rad = s * s * r * b
        params = np.asarray(params, dtype=np.float64)
        if params.shape != (self.n_params(),):
            raise ValueError(f"expected {self.n_params()} parameters, got {params.shape}")
        self.radial_coeffs = params[:n_rad].reshape(s, s, r, b).copy()
        self.species_coeffs = params[n_rad:n_rad + s].copy()
        self.moment_coeffs = params[n_rad + s:].copy()

    def copy(self) -> MTPPotential:
        import copy

        return copy.deepcopy(self)


def moment_levels(pot: MTPPotential) -> np.ndarray:
    """Level of every moment: 2 + 4 mu + nu for basic ones, sums along alpha_index_times."""
    lev = np.zeros(pot.alpha_moments_count, dtype=np.int64)
    basic = pot.alpha_index_basic
    lev[: len(basic)] = 2 + 4 * basic[:, 0] + basic[:, 1:].sum(axis=1)
    for i, j, _m, k in pot.alpha_index_times:
        lev[k] = lev[i] + lev[j]
    return lev
