"""MLIP .mtp / .almtp potentials: untrained templates and trained potentials (MLIP-2 and MLIP-3).

What other readers need (see ../shared/docs/mtp.md):
- MLIP-3's `mlp train`, `select_add` and `calculate_grade` take everything from the first '#' in the
  file as their active-learning state and require `#MVS_v1.1` there; so the only '#' a written
  potential holds is that block, and only when it came with the file and still belongs to the model.
- MLIP-3 reads `potential_name` as one whitespace-free token and writes it back when it saves; motep
  keeps it as a string and rejects keys it does not know. mtpflow's metadata (element order,
  training-set hash, ...) therefore travels in that token:

      potential_name = MTP1m;mtpflow;species:Li,Al,Cl;training_set_hash:9f2c...

  i.e. NAME;mtpflow;key:value;... with NAME, keys and values percent-encoded (no whitespace, '#',
  '=' or ';' inside). A name without the `;mtpflow` marker is an ordinary MLIP name.
- Files written by earlier mtpflow versions carried the metadata as trailing `#mtpflow key = value`
  lines; they are still read.

An MLIP-3 potential's `#MVS_v1.1` block (from that line to the end of the file) is kept in
MTPPotential.selection and written back byte for byte while the model is unchanged (relabelling,
read-write round trips); once the coefficients, distances or tables differ (training, upgrades) it
is dropped with a message, since an active set belongs to the coefficients it was selected for.
Floats are written with 17 significant digits, so a read-write-read round trip is bit-exact.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from mtpflow.errors import InputError
from mtpflow.io.atomic import atomic_open
from mtpflow.mtp.potential import MTPPotential, SelectionState
from mtpflow.species import parse_species

_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_OLD_META_PREFIX = "#mtpflow "  # metadata lines of files written before the potential_name token
SELECTION_PREFIX = b"#MVS_"  # MLIP-3's active-learning state: `#MVS_v1.1` and binary data after it
NAME_MARKER = "mtpflow"
DEFAULT_NAME = "MTP1m"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.+\-]+")
_VALUE_SAFE = ",:+@/"  # kept as they are in values (besides A-Z a-z 0-9 _ . - ~)


class SelectionDroppedWarning(UserWarning):
    """MLIP-3's active-learning block was not written because the model changed."""


def format_potential_name(pot: MTPPotential) -> str:
    """The one-token `potential_name` value carrying the element order and metadata."""
    items = []
    if pot.species:
        items.append(("species", ",".join(quote(str(x), safe="") for x in pot.species)))
    items += [(k, quote(str(v), safe=_VALUE_SAFE)) for k, v in pot.metadata.items()
              if not (k == "species" and pot.species)]
    name = pot.potential_name or DEFAULT_NAME
    if not items and _PLAIN_NAME.fullmatch(name):
        return name
    return ";".join([quote(name, safe=""), NAME_MARKER] + [f"{quote(str(k), safe='')}:{v}" for k, v in items])


def parse_potential_name(token: str, path=None, line: int | None = None):
    """(name, species or None, metadata dict) from a `potential_name` value (see the module doc)."""
    parts = token.split(";")
    if len(parts) < 2 or parts[1] != NAME_MARKER:
        return token, None, {}
    name = unquote(parts[0]) or DEFAULT_NAME
    species, meta = None, {}
    for seg in parts[2:]:
        if not seg:
            continue
        if ":" not in seg:
            raise InputError(f"potential_name: mtpflow entry {seg[:40]!r} is not key:value; rewrite the "
                             f"name as NAME;mtpflow;key:value;... or drop the ';mtpflow' part", path, line)
        key, value = seg.split(":", 1)
        key = unquote(key)
        if key == "species":
            species = [unquote(x) for x in value.split(",")] if value else None
        else:
            meta[key] = unquote(value)
    return name, species, meta


def _no_hash(text: str) -> str:
    # a free-text field must not start MLIP-3's selection data ('#') or split motep's key = value
    return text.replace("#", "%23").replace("=", "%3D")


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
    selection = None
    current_pair = None
    in_radial = False
    first = None
    offset = 0
    for no, bline in enumerate(lines, start=1):
        start, offset = offset, offset + len(bline) + 1
        if bline.startswith(b"#"):
            if bline.startswith(SELECTION_PREFIX):  # MLIP-3's active-learning state, to the end
                selection = raw[start:]
                break
            text = bline.decode("utf-8", errors="replace").rstrip("\r")
            if text.startswith(_OLD_META_PREFIX) and "=" in text:
                key, value = text[len(_OLD_META_PREFIX):].split("=", 1)
                meta[key.strip()] = value.strip()
                continue
            break  # other trailing data: not part of the model
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
    pot = _build(fields, radial, meta, path)
    if selection is not None:
        pot.selection = SelectionState(selection, pot.model_digest(), "" if path is None else str(path))
    return pot


def _finite(text: str) -> float:
    x = float(text)
    if not np.isfinite(x):
        raise ValueError("not finite")
    return x


def _positive(text: str) -> float:
    x = _finite(text)
    if x <= 0:
        raise ValueError("not positive")
    return x


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
            need = {int: "an integer", float: "a number", _finite: "a finite number",
                    _positive: "a positive finite number"}.get(conv, "another value")
            raise InputError(f"field '{key}' has an invalid value {value[:60]!r} (expected {need})",
                             path, no) from None

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
    for key, v in (("species_count", s), ("radial_funcs_count", r), ("radial_basis_size", b)):
        if v < 1:
            raise InputError(f"{key} must be >= 1, found {v}", path, fields[key][1])
    if radial:
        if len(radial) != s * s:
            raise InputError(f"radial_coeffs has blocks for {len(radial)} species pairs but "
                             f"species_count = {s} needs {s * s} (0-0 ... {s - 1}-{s - 1})", path)
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
        radial_coeffs = np.array([[radial[(a, c)] for c in range(s)] for a in range(s)])
    present = [k for k, ok in (("radial_coeffs", radial_coeffs is not None),
                               ("species_coeffs", "species_coeffs" in fields),
                               ("moment_coeffs", "moment_coeffs" in fields)) if ok]
    if present and len(present) < 3:
        missing = [k for k in ("radial_coeffs", "species_coeffs", "moment_coeffs") if k not in present]
        raise InputError(f"the file holds {' and '.join(present)} but no {' or '.join(missing)}: it "
                         "is cut short or damaged (a trained potential holds all three, a template "
                         "none)", path)
    species = meta.pop("species", None)
    species = [x.strip() for x in species.split(",")] if species else None
    name = get("potential_name", str, DEFAULT_NAME, required=False)
    if "potential_name" in fields:
        name, token_species, token_meta = parse_potential_name(name, path, fields["potential_name"][1])
        species = token_species or species
        meta.update(token_meta)
    pot = MTPPotential(
        species_count=s,
        min_dist=get("min_dist", _finite),
        max_dist=get("max_dist", _finite),
        radial_basis_size=b,
        radial_funcs_count=r,
        alpha_moments_count=get("alpha_moments_count", int),
        alpha_index_basic=basic,
        alpha_index_times=times,
        alpha_moment_mapping=mapping,
        radial_coeffs=radial_coeffs,
        species_coeffs=arr("species_coeffs", required=False),
        moment_coeffs=arr("moment_coeffs", required=False),
        scaling=get("scaling", _positive, 1.0, required=False),
        version=get("version", str, "1.1.0", required=False),
        potential_name=name,
        potential_tag=get("potential_tag", str, "", required=False),
        radial_basis_type=btype,
        species=parse_species(species, "the potential's species metadata", path) if species else None,
        metadata=meta,
        write_scaling="scaling" in fields,
    )
    pot.validate(path)
    return pot


def _f(x: float) -> str:
    return f"{x:.16e}"


def format_mtp(pot: MTPPotential) -> str:
    """MLIP text of the model (MLIP field names and order, full precision, metadata in the
    potential_name token); without MLIP-3's active-learning block (see potential_bytes)."""
    pot.validate()
    out = ["MTP", f"version = {_no_hash(pot.version)}", f"potential_name = {format_potential_name(pot)}"]
    write_scaling = pot.write_scaling if pot.write_scaling is not None else pot.is_trained
    if write_scaling or pot.scaling != 1.0:
        out.append(f"scaling = {_f(pot.scaling)}")
    out += [f"species_count = {pot.species_count}", f"potential_tag = {_no_hash(pot.potential_tag)}",
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
    return "\n".join(out) + "\n"


def selection_is_current(pot: MTPPotential) -> bool:
    """True when the potential carries MLIP-3's active-learning block and its model is unchanged."""
    return pot.selection is not None and pot.selection.model_digest == pot.model_digest()


def potential_bytes(pot: MTPPotential, keep_selection: bool = True,
                    warn: Callable[[str], None] | None = None, target=None) -> bytes:
    """The file's bytes: format_mtp's text, then MLIP-3's active-learning block byte for byte if the
    potential came with one, keep_selection is set and the model is unchanged. A block that no longer
    belongs to the model is left out and `warn` (default: warnings.warn) gets a message saying so;
    `target` names the output in it."""
    data = format_mtp(pot).encode("utf-8")
    sel = pot.selection
    if sel is None or not keep_selection:
        return data
    if selection_is_current(pot):
        return data + sel.data
    msg = (f"MLIP-3's active-learning state (the #MVS_v1.1 block, {len(sel.data)} bytes) read from "
           f"{sel.source or 'the source potential'} was not written to {target or 'the new potential'}: "
           "an active set belongs to the coefficients it was selected for, and these changed; MLIP-3 "
           "selects a new one when it trains the file (mlp train)")
    if warn is None:
        warnings.warn(msg, SelectionDroppedWarning, stacklevel=3)
    else:
        warn(msg)
    return data


def write_mtp(path, pot: MTPPotential, keep_selection: bool = True,
              warn: Callable[[str], None] | None = None) -> None:
    """Write the potential atomically (see potential_bytes for MLIP-3's active-learning block)."""
    data = potential_bytes(pot, keep_selection, warn, target=path)
    with atomic_open(path, "wb") as fh:
        fh.write(data)
