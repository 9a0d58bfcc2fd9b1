"""MLIP .mtp / .almtp potentials: untrained templates and trained potentials (MLIP-2 and MLIP-3).

Reading stops at the first line starting with '#': MLIP-3 may append a binary active-learning state
after `#MVS_v1.1`, which is skipped. mtpflow's own metadata (species order, training-set hash) is
written as `#mtpflow key = value` lines after the last field, where MLIP's reader has stopped.
Floats are written with 17 significant digits, so a read-write-read round trip is bit-exact.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open
from mtpflow.mtp.potential import MTPPotential
from mtpflow.species import parse_species

_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_META_PREFIX = "#mtpflow "


def _parse_array(text: str, path, line_no: int, what: str, width: int | None = None) -> np.ndarray:
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise InputError(f"{what} must be written in braces {{...}}", path, line_no)
    if width is None:
        toks = [t for t in body[1:-1].replace(",", " ").split()]
        try:
            return np.array([float(t) for t in toks], dtype=np.float64)
        except ValueError:
            bad = next(t for t in toks if not _NUM.fullmatch(t))
            raise InputError(f"non-number {bad!r} in {what}", path, line_no) from None
    rows = re.findall(r"\{([^{}]*)\}", body[1:-1]) if body[1:-1].strip() else []
    out = np.empty((len(rows), width), dtype=np.int64)
    for k, row in enumerate(rows):
        toks = [t for t in row.replace(",", " ").split()]
        if len(toks) != width:
            raise InputError(f"{what}: row {k} has {len(toks)} numbers, expected {width}", path, line_no)
        try:
            out[k] = [int(t) for t in toks]
        except ValueError:
            raise InputError(f"{what}: row {k} has a non-integer: {row!r}", path, line_no) from None
    return out


def read_mtp(path) -> MTPPotential:
    """Read an MLIP potential or template; raises InputError naming the file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the potential file ({exc.strerror})", path) from exc
    return parse_mtp(raw, path)


def parse_mtp(raw: bytes, path=None) -> MTPPotential:
    """Parse the bytes of an MLIP potential; `path` names the source in error messages."""
    lines = raw.split(b"\n")
    fields: dict[str, tuple[str, int]] = {}
    radial: dict[tuple[int, int], list[np.ndarray]] = {}
    meta: dict[str, str] = {}
    current_pair = None
    in_radial = False
    first = None
    for no, bline in enumerate(lines, start=1):
        if bline.startswith(b"#"):
            text = bline.decode("utf-8", errors="replace").rstrip("\r")
            if text.startswith(_META_PREFIX) and "=" in text:
                key, value = text[len(_META_PREFIX):].split("=", 1)
                meta[key.strip()] = value.strip()
                continue
            break  # MLIP-3 active-learning state or other trailing data: not part of the model
        try:
            text = bline.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InputError("binary data before the end of the potential", path, no) from None
        if not text:
            continue
        if first is None:
            first = text
            if text != "MTP":
                raise InputError(f"not an MTP potential: the first line is {text[:40]!r}, expected 'MTP'",
                                 path, no)
            continue
        if in_radial:
            if re.fullmatch(r"\d+\s*-\s*\d+", text):
                a, b = (int(v) for v in text.split("-"))
                current_pair = (a, b)
                radial[current_pair] = []
                continue
            if text.startswith("{"):
                if current_pair is None:
                    raise InputError("radial coefficients before a species pair label like 0-0", path, no)
                radial[current_pair].append(_parse_array(text, path, no, f"radial_coeffs {current_pair}"))
                continue
            in_radial = False
        if text == "radial_coeffs":
            in_radial = True
            continue
        if "=" not in text:
            raise InputError(f"expected 'key = value', found {text[:60]!r}", path, no)
        key, value = (s.strip() for s in text.split("=", 1))
        fields[key] = (value, no)
    if first is None:
        raise InputError("empty potential file", path)
    return _build(fields, radial, meta, path)


def _build(fields, radial, meta, path) -> MTPPotential:
    def get(key, conv, default=None, required=True):
        if key not in fields:
            if required:
                raise InputError(f"missing field '{key}'", path)
            return default
        value, no = fields[key]
        try:
            return conv(value)
        except (ValueError, TypeError):
            raise InputError(f"field '{key}' has an invalid value {value[:60]!r}", path, no) from None

    def arr(key, width=None, required=True):
        if key not in fields:
            if required:
                raise InputError(f"missing field '{key}'", path)
            return None
        value, no = fields[key]
        return _parse_array(value, path, no, key, width)

    btype = get("radial_basis_type", str)
    if btype != "RBChebyshev":
        raise InputError(f"radial_basis_type {btype!r} is not supported (only RBChebyshev)", path)
    s = get("species_count", int)
    r = get("radial_funcs_count", int)
    b = get("radial_basis_size", int)
    basic = arr("alpha_index_basic", 4)
    times = arr("alpha_index_times", 4)
    mapping = arr("alpha_moment_mapping").astype(np.int64)
    for key, actual in (("alpha_index_basic_count", len(basic)), ("alpha_index_times_count", len(times)),
                        ("alpha_scalar_moments", len(mapping))):
        declared = get(key, int)
        if declared != actual:
            raise InputError(f"{key} = {declared} but the table has {actual} entries", path, fields[key][1])
    radial_coeffs = None
    if radial:
        radial_coeffs = np.zeros((s, s, r, b))
        for a in range(s):
            for c in range(s):
                rows = radial.get((a, c))
                if rows is None:
                    raise InputError(f"radial_coeffs has no block for species pair {a}-{c} "
                                     f"(species_count = {s})", path)
                if len(rows) != r or any(len(x) != b for x in rows):
                    raise InputError(
                        f"radial_coeffs {a}-{c}: expected {r} rows of {b} numbers "
                        f"(radial_funcs_count × radial_basis_size), found {[len(x) for x in rows]}", path)
                radial_coeffs[a, c] = np.array(rows)
        extra = set(radial) - {(a, c) for a in range(s) for c in range(s)}
        if extra:
            raise InputError(f"radial_coeffs has blocks {sorted(extra)} beyond species_count = {s}", path)
    species = meta.pop("species", None)
    pot = MTPPotential(
        species_count=s,
        min_dist=get("min_dist", float),
        max_dist=get("max_dist", float),
        radial_basis_size=b,
        radial_funcs_count=r,
        alpha_moments_count=get("alpha_moments_count", int),
        alpha_index_basic=basic,
        alpha_index_times=times,
        alpha_moment_mapping=mapping,
        radial_coeffs=radial_coeffs,
        species_coeffs=arr("species_coeffs", required=False),
        moment_coeffs=arr("moment_coeffs", required=False),
        scaling=get("scaling", float, 1.0, required=False),
        version=get("version", str, "1.1.0", required=False),
        potential_name=get("potential_name", str, "MTP1m", required=False),
        potential_tag=get("potential_tag", str, "", required=False),
        radial_basis_type=btype,
        species=parse_species(species, "#mtpflow species", path) if species else None,
        metadata=meta,
        write_scaling="scaling" in fields,
    )
    pot.validate(path)
    return pot


def _f(x: float) -> str:
    return f"{x:.16e}"


def format_mtp(pot: MTPPotential) -> str:
    """MLIP text of the potential (MLIP field names and order, full precision)."""
    pot.validate()
    out = ["MTP", f"version = {pot.version}", f"potential_name = {pot.potential_name}"]
    write_scaling = pot.write_scaling if pot.write_scaling is not None else pot.is_trained
    if write_scaling or pot.scaling != 1.0:
        out.append(f"scaling = {_f(pot.scaling)}")
    out += [f"species_count = {pot.species_count}", f"potential_tag = {pot.potential_tag}",
            f"radial_basis_type = {pot.radial_basis_type}",
            f"\tmin_dist = {_f(pot.min_dist)}", f"\tmax_dist = {_f(pot.max_dist)}",
            f"\tradial_basis_size = {pot.radial_basis_size}",
            f"\tradial_funcs_count = {pot.radial_funcs_count}"]
    if pot.radial_coeffs is not None:
        out.append("\tradial_coeffs")
        for a in range(pot.species_count):
            for c in range(pot.species_count):
                out.append(f"\t\t{a}-{c}")
                for row in pot.radial_coeffs[a, c]:
                    out.append("\t\t\t{" + ", ".join(_f(v) for v in row) + "}")
    out.append(f"alpha_moments_count = {pot.alpha_moments_count}")
    out.append(f"alpha_index_basic_count = {pot.alpha_index_basic_count}")
    out.append("alpha_index_basic = {" + ", ".join(
        "{" + ", ".join(str(int(v)) for v in row) + "}" for row in pot.alpha_index_basic) + "}")
    out.append(f"alpha_index_times_count = {pot.alpha_index_times_count}")
    out.append("alpha_index_times = {" + ", ".join(
        "{" + ", ".join(str(int(v)) for v in row) + "}" for row in pot.alpha_index_times) + "}")
    out.append(f"alpha_scalar_moments = {pot.alpha_scalar_moments}")
    out.append("alpha_moment_mapping = {" + ", ".join(str(int(v)) for v in pot.alpha_moment_mapping) + "}")
    if pot.species_coeffs is not None:
        out.append("species_coeffs = {" + ", ".join(_f(v) for v in pot.species_coeffs) + "}")
    if pot.moment_coeffs is not None:
        out.append("moment_coeffs = {" + ", ".join(_f(v) for v in pot.moment_coeffs) + "}")
    if pot.species:
        out.append(f"{_META_PREFIX}species = {','.join(pot.species)}")
    for key, value in pot.metadata.items():
        out.append(f"{_META_PREFIX}{key} = {value}")
    return "\n".join(out) + "\n"


def write_mtp(path, pot: MTPPotential) -> None:
    """Write the potential atomically (readable by MLIP; mtpflow metadata in trailing # lines)."""
    text = format_mtp(pot)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
