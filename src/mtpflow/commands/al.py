"""Active-learning verbs the workflow's loop (workflow/rules/al.smk) runs between its other steps:

    al-select   the candidates of one iteration's exploration runs (the --extrapolative files and
                --grade-status records of `mtpflow md`) -> the selection (MLIP-3's select_add over
                all of them at once) and the iteration's record (JSON)
    al-extend   the previous training set + the labelled selection -> the next training set
    al-summary  the records and calc-errors JSONs of every iteration -> summary.csv

Exploration (`mtpflow md --grade-train ... --grade-status`), labelling (`mtpflow densify --as-is`),
retraining (`mtpflow train --init-from`) and validation (`mtpflow calc-errors`) are the usual verbs.
"""

from __future__ import annotations

import json

from mtpflow.errors import InputError
from mtpflow.species import parse_species

SUMMARY_COLUMNS = ["iteration", "n_runs", "n_stopped_by_extrapolation", "n_blew_up", "n_candidates",
                   "n_selected",
                   "max_grade", "n_train", "energy_rmse_meV_per_atom", "force_rmse_eV_A",
                   "stress_rmse_GPa", "potential"]


def _log(msg: str) -> None:
    print(msg, flush=True)


def register(subparsers) -> None:
    from mtpflow.commands.grade import _common

    p = subparsers.add_parser(
        "al-select", help="one active-learning iteration's selection from its exploration runs",
        description="Reads the configurations every exploration run saved (CANDIDATES: the "
        "--extrapolative files of `mtpflow md --grade-train`, possibly empty) and selects, in one "
        "MaxVol search over all of them, those that extend TRAIN's active set (as select-add). "
        "Writes them to --out (written empty when there is nothing to select: the loop has "
        "converged) and the iteration's record to --record (JSON: iteration, n_runs, "
        "n_stopped_by_extrapolation, n_blew_up, n_candidates, n_duplicates, n_eligible, n_selected, "
        "max_grade "
        "(the largest grade any exploration run met, from --status, else from the candidates' "
        "MV_grade), n_train, potential, training_set). Grades are dimensionless.")
    _common(p, "the training set the potential was trained on (MLIP .cfg)")
    p.add_argument("--candidates", nargs="+", required=True, metavar="CFG",
                   help="the exploration runs' saved configurations (.cfg; empty files allowed)")
    p.add_argument("--status", nargs="*", default=[], metavar="JSON",
                   help="the exploration runs' --grade-status records (for max_grade and the runs "
                   "stopped by extrapolation)")
    p.add_argument("--out", required=True, help="the selected configurations (.cfg)")
    p.add_argument("--record", required=True, help="the iteration's record (JSON)")
    p.add_argument("--iteration", type=int, default=None, help="iteration number for the record")
    p.add_argument("--threshold", type=float, default=1.001,
                   help="only candidates grading above it may be chosen (dimensionless, >= 1; "
                   "default 1.001 as MLIP-3)")
    p.add_argument("--max-configs", type=int, default=None,
                   help="select at most N configurations, the most extrapolative first (count)")
    p.set_defaults(func=run_select)

    q = subparsers.add_parser(
        "al-extend", help="the next training set: the previous one plus the labelled selection",
        description="Writes PREVIOUS.cfg's configurations followed by ADDED.cfg's to --out. "
        "Refuses additions without energy or forces, with another reference engine (Feature "
        "EFS_by) or another species order than the previous set, as `mtpflow dataset` does.")
    q.add_argument("previous", metavar="PREVIOUS.cfg", help="the training set so far")
    q.add_argument("added", metavar="ADDED.cfg", nargs="+", help="labelled configurations to add")
    q.add_argument("--species", required=True, help="element of each type, e.g. Li,Al,Cl")
    q.add_argument("--out", required=True, help="the extended training set (.cfg)")
    q.set_defaults(func=run_extend)

    r = subparsers.add_parser(
        "al-summary", help="summary.csv of an active-learning loop: one row per iteration",
        description="One row per iteration: " + ", ".join(SUMMARY_COLUMNS) + ". Row 0 is the "
        "potential before active learning (--initial); each --iteration RECORD ERRORS gives an "
        "iteration's al-select record and the calc-errors JSON of the potential it ended with "
        "(the same potential as the row before when it selected nothing); n_train is the size of "
        "the row's potential's training set. RMSEs on the test set: "
        "energy meV/atom, force components eV/Å, stress components GPa.")
    r.add_argument("--initial", required=True, metavar="ERRORS.json",
                   help="calc-errors JSON of the potential before active learning")
    r.add_argument("--initial-potential", default="", help="that potential's file (for the table)")
    r.add_argument("--iteration", nargs=3, action="append", default=[],
                   metavar=("RECORD.json", "ERRORS.json", "POT"),
                   help="an iteration's record, the calc-errors JSON and file of its potential")
    r.add_argument("--out", required=True, help="summary CSV")
    r.set_defaults(func=run_summary)


def _read_json(path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise InputError("not found", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable JSON file ({exc})", path) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", path)
    return data


def _status_summary(paths) -> tuple[int, int, float | None]:
    """(runs stopped by extrapolation, runs stopped by the blow-up protection, the largest
    max_grade) of --grade-status records."""
    stopped, blew, top = 0, 0, None
    for path in paths:
        st = _read_json(path)
        if "stopped_by_extrapolation" not in st or "max_grade" not in st:
            raise InputError("not a --grade-status record of mtpflow md (no stopped_by_extrapolation "
                             "or max_grade)", path)
        stopped += bool(st["stopped_by_extrapolation"])
        blew += bool(st.get("blew_up"))
        if st["max_grade"] is not None:
            top = float(st["max_grade"]) if top is None else max(top, float(st["max_grade"]))
    return stopped, blew, top


def run_select(args) -> int:
    from mtpflow.commands.grade import active_set_for, check_selection_options, load_potential
    from mtpflow.data.dataset import feature
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.cfg import iter_cfg, read_cfg, write_cfg
    from mtpflow.io.json_files import write_json
    from mtpflow.mtp.selection import select_add

    check_selection_options(args)
    check_writable(args.out)
    check_writable(args.record)
    n_stopped, n_blew, max_grade = _status_summary(args.status)
    candidates, origin = [], []
    for path in args.candidates:
        got = list(iter_cfg(path))  # an exploration run that saved nothing wrote an empty file
        candidates += got
        origin += [(path, k) for k in range(len(got))]
    pot, tables = load_potential(args.potential, args.species)
    record = {"iteration": args.iteration, "n_runs": len(args.status),
              "n_stopped_by_extrapolation": n_stopped, "n_blew_up": n_blew,
              "n_candidates": len(candidates),
              "n_duplicates": 0, "n_eligible": 0, "n_selected": 0, "max_grade": max_grade,
              "threshold": args.threshold, "potential": args.potential, "training_set": args.train}
    if candidates:
        grades = [feature(c, "MV_grade") for c in candidates]
        known = [float(g) for g in grades if g is not None]
        if known and max_grade is None:
            record["max_grade"] = max(known)
        active, train = active_set_for(pot, tables, args.train, args.mode, cache_dir=args.cache_dir,
                                       use_cache=not args.no_cache, log=_log)
        record["n_train"] = len(train)
        where = args.candidates[0] if len(args.candidates) == 1 else "the candidates"
        res = select_add(pot, active, candidates, threshold=args.threshold,
                         max_configs=args.max_configs, tables=tables, where=where)
        chosen = [candidates[k] for k in res.selected]
        record.update(n_duplicates=int((res.duplicate_of >= 0).sum()), n_eligible=int(res.n_eligible),
                      n_selected=len(chosen),
                      selected_from=[f"{origin[k][0]}:{origin[k][1]}" for k in res.selected])
    else:
        chosen = []
        record["n_train"] = len(read_cfg(args.train))
    write_cfg(args.out, chosen)
    write_json(args.record, record)
    mg = "n/a" if record["max_grade"] is None else f"{record['max_grade']:.3f}"
    _log(f"al-select: {len(args.status)} exploration run(s), {n_stopped} stopped by extrapolation, "
         f"{n_blew} by the blow-up protection, max grade {mg}; {len(candidates)} candidate(s), "
         f"{record['n_eligible']} grading above "
         f"{args.threshold:g}; {len(chosen)} selected -> {args.out}"
         + ("" if chosen else " (nothing to add: the loop has converged)"))
    return 0


def run_extend(args) -> int:
    from mtpflow.data.dataset import check_consistent
    from mtpflow.io.atomic import check_writable
    from mtpflow.io.cfg import read_cfg, write_cfg

    species = parse_species(args.species)
    check_writable(args.out)
    previous = read_cfg(args.previous)
    if not previous:
        raise InputError("the training set is empty", args.previous)
    sets = [(args.previous, previous)] + [(p, read_cfg(p)) for p in args.added]
    check_consistent(sets, species)
    added = sum(len(c) for _, c in sets[1:])
    n = write_cfg(args.out, [c for _, configs in sets for c in configs])
    _log(f"al-extend: {len(previous)} + {added} configuration(s) = {n} -> {args.out}")
    return 0


def _rmse(errors: dict, key: str, path, scale: float = 1.0):
    try:
        value = errors[key]["rmse"]
    except (KeyError, TypeError):
        raise InputError(f"not a calc-errors JSON (no {key}.rmse)", path) from None
    return None if value is None else float(value) * scale


def _row(iteration, record, n_train, errors, errors_path, potential):
    rec = record or {}
    return [iteration, rec.get("n_runs"), rec.get("n_stopped_by_extrapolation"), rec.get("n_blew_up"),
            rec.get("n_candidates"), rec.get("n_selected"), rec.get("max_grade"), n_train,
            _rmse(errors, "energy_per_atom", errors_path, 1e3), _rmse(errors, "forces", errors_path),
            _rmse(errors, "stress", errors_path), potential]


def run_summary(args) -> int:
    from mtpflow.io.atomic import atomic_open, check_writable

    check_writable(args.out)
    records = []
    for record_path, _, _ in args.iteration:
        record = _read_json(record_path)
        if "n_selected" not in record:
            raise InputError("not an al-select record (no n_selected)", record_path)
        records.append(record)
    # n_train: the training set of the row's potential (a record holds the set it selected against)
    n0 = records[0].get("n_train") if records else None
    rows = [_row(0, None, n0, _read_json(args.initial), args.initial, args.initial_potential)]
    for k, (record, (_, errors_path, pot)) in enumerate(zip(records, args.iteration), start=1):
        n = record.get("n_train")
        n = None if n is None else int(n) + int(record["n_selected"])
        rows.append(_row(record.get("iteration") or k, record, n, _read_json(errors_path),
                         errors_path, pot))
    with atomic_open(args.out, "w") as fh:
        fh.write(",".join(SUMMARY_COLUMNS) + "\n")
        for row in rows:
            fh.write(",".join("" if v is None else (f"{v:.8g}" if isinstance(v, float) else str(v))
                              for v in row) + "\n")
    def num(v, spec):
        return "n/a" if v is None else format(v, spec)

    first, last = rows[0], rows[-1]
    e, f, st = (SUMMARY_COLUMNS.index(c) for c in ("energy_rmse_meV_per_atom", "force_rmse_eV_A",
                                                    "stress_rmse_GPa"))
    _log(f"al-summary: {len(rows) - 1} iteration(s) -> {args.out}; test RMSE energy "
         f"{num(first[e], '.3f')} -> {num(last[e], '.3f')} meV/atom, forces {num(first[f], '.4f')} "
         f"-> {num(last[f], '.4f')} eV/Å, stress {num(first[st], '.4f')} -> {num(last[st], '.4f')} GPa")
    return 0
