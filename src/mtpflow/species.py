"""The one parser of species lists (the element of each type, in type order), used by every verb,
by potential files' `#mtpflow species = ...` metadata and by the library."""

from __future__ import annotations

from collections.abc import Sequence

from mtpflow.errors import InputError


def parse_species(text: str | Sequence[str] | None, where: str = "--species",
                  path=None) -> list[str] | None:
    """'Li,Al,Cl' (or ['Li', 'Al', 'Cl']) -> ['Li', 'Al', 'Cl']; None stays None.

    Every name must be an element symbol of the periodic table, listed once. `where` names the
    option or key in the error message ("--species", "species", ...) and `path` the file it came
    from, if any."""
    if text is None:
        return None
    from ase.data import atomic_numbers

    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else [str(s).strip() for s in text]
    items = [s for s in items if s]
    if not items:
        raise InputError(f"{where} is empty; give the element of each type in type order, e.g. "
                         "Li,Al,Cl", path)
    for s in items:
        if s not in atomic_numbers or s == "X":
            raise InputError(f"{where}: unknown element {s!r}; give the element of each type in "
                             "type order, e.g. Li,Al,Cl", path)
    if len(set(items)) != len(items):
        twice = sorted({s for s in items if items.count(s) > 1})
        raise InputError(f"{where}: element {','.join(twice)} is listed twice in "
                         f"{','.join(items)}; give each element once, in type order", path)
    return items
