"""The verbs run on each file of the corpus (see tests/reliability/corpus.py): one Case per (file,
verb) with the exit status, the file or option the error must name, and, for usable inputs, the
frames or configurations the output must hold."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.corpus import (PROTOCOL_BAD, SPECIES, Case, cfg_variants, dump_variants,
                                      extxyz_variants, log_variants, mtp_variants, outcar_text,
                                      vasprun_text, _lines, _variant)

N_TRAJ_ATOMS = 14            # tests.analysis.conftest.write_extxyz: 6 Li + 3 Al + 5 Cl
N_DUMP_ATOMS = 10            # write_dump: 6 type-1 (Li) + 4 type-2 (Cl)


def cases(root: Path, inp: Path, f: dict, shared) -> list[Case]:
    out: list[Case] = []

    def o(cid: str, name: str) -> str:
        return str(root / "out" / cid / name)

    def add(cid, argv, rc, names=None, line=None, count=None, warns=None, tags=()):
        assert not any(c.id == cid for c in out), cid
        out.append(Case(cid, [str(a) for a in argv], rc, None if names is None else str(names), line,
                        count, warns, set(tags)))

    pot, tpl, ref, start = f["pot.mtp"], f["template.mtp"], f["ref.cfg"], f["start.extxyz"]
    md_flags = ["--ensemble", "nvt", "--temperature-K", "200", "--steps", "2", "--timestep-fs", "0.5",
                "--traj-every", "1",
                "--threads", "1"]

    # ---- .cfg: every verb that reads configurations
    for name, path, line in cfg_variants(inp, ref):
        c = f"cfg-{name}"
        add(f"{c}-calc-efs", ["calc-efs", pot, path, o(f"{c}-calc-efs", "o.cfg")], 2, path, line)
        add(f"{c}-calc-errors", ["calc-errors", pot, path, "--json", o(f"{c}-calc-errors", "e.json")],
            2, path, line)
        add(f"{c}-train", ["train", tpl, path, "--out", o(f"{c}-train", "t.mtp"), "--max-iter", "1"],
            2, path, line)
        add(f"{c}-dataset", ["dataset", path, "--train", o(f"{c}-dataset", "a.cfg"), "--test",
                             o(f"{c}-dataset", "b.cfg"), "--summary", o(f"{c}-dataset", "s.csv")],
            2, path, line)
        add(f"{c}-convert", ["convert", path, o(f"{c}-convert", "o.extxyz"), "--species", SPECIES],
            2, path, line)
    n = f["n_configs"]
    add("cfg-good-calc-efs", ["calc-efs", pot, ref, o("cfg-good-calc-efs", "o.cfg")], 0,
        count=(o("cfg-good-calc-efs", "o.cfg"), "cfg", n))
    add("cfg-good-convert", ["convert", ref, o("cfg-good-convert", "o.extxyz"), "--species", SPECIES],
        0, count=(o("cfg-good-convert", "o.extxyz"), "extxyz", n))
    add("cfg-good-calc-errors", ["calc-errors", pot, ref, "--json", o("cfg-good-calc-errors", "e.json")],
        0, count=(o("cfg-good-calc-errors", "e.json"), "json:n_configs", n))
    latin = _variant(inp, "latin1_feature.cfg",
                     data=ref.read_bytes().replace(b"END_CFG", b" Feature   note\tcaf\xe9\nEND_CFG", 1))
    add("cfg-latin1-calc-efs", ["calc-efs", pot, latin, o("cfg-latin1-calc-efs", "o.cfg")], 0,
        count=(o("cfg-latin1-calc-efs", "o.cfg"), "cfg", n))

    # ---- potentials: every verb that reads one
    for name, path, line in mtp_variants(inp, pot):
        c = f"mtp-{name}"
        add(f"{c}-calc-efs", ["calc-efs", path, ref, o(f"{c}-calc-efs", "o.cfg")], 2, path, line)
        add(f"{c}-calc-errors", ["calc-errors", path, ref, "--json", o(f"{c}-calc-errors", "e.json")],
            2, path, line)
        add(f"{c}-train", ["train", path, ref, "--out", o(f"{c}-train", "t.mtp"), "--max-iter", "1"],
            2, path, line)
        add(f"{c}-convert", ["convert", path, o(f"{c}-convert", "o.mtp")], 2, path, line)
        add(f"{c}-md", ["md", path, start, *md_flags, "--traj", o(f"{c}-md", "t.extxyz"), "--thermo",
                        o(f"{c}-md", "t.csv")], 2, path, line)
        add(f"{c}-lammps-deck", ["lammps-deck", path, start, "--protocol", f["protocol.yaml"],
                                 "--outdir", o(f"{c}-lammps-deck", "deck")], 2, path, line)
        add(f"{c}-init-mtp", ["init-mtp", "--from-template", path, "--species", SPECIES, "--min-dist",
                              "1.5", "--max-dist", "4.5", "--out", o(f"{c}-init-mtp", "i.mtp")],
            2, path, line)

    # ---- extended XYZ: analyze, convert, md START
    traj = f["traj.extxyz"]
    n_frames = len(_lines(traj)) // (N_TRAJ_ATOMS + 2)
    for name, (path, line, frames) in extxyz_variants(inp, traj, N_TRAJ_ATOMS).items():
        c = f"xyz-{name}"
        rc = 0 if frames else 2
        add(f"{c}-analyze", ["analyze", path, "--species", "Li", "--no-plots", "--outdir",
                             o(f"{c}-analyze", "an")], rc, path if rc else None, line,
            (o(f"{c}-analyze", "an/summary.json"), "json:n_frames_read", frames) if frames else None,
            "truncated" if frames else None)
        add(f"{c}-convert", ["convert", path, o(f"{c}-convert", "o.cfg"), "--species", SPECIES], rc,
            path if rc else None, None if name == "no_lattice" else line,   # ASE reads that frame
            (o(f"{c}-convert", "o.cfg"), "cfg", frames) if frames else None,
            "truncated" if frames else None)
        if name in ("short_mid", "nan_position", "truncated_last", "empty"):
            add(f"{c}-md", ["md", pot, path, *md_flags, "--traj", o(f"{c}-md", "t.extxyz"), "--thermo",
                            o(f"{c}-md", "t.csv")], rc, path if rc else None, line,
                (o(f"{c}-md", "t.extxyz"), "extxyz", 3) if frames else None, tags={"slow"})
    lines = _lines(start)
    lines[3] = lines[2]                                  # atom 2 written twice: coincident atoms
    coincident = _variant(inp, "coincident_start.extxyz", lines)
    add("xyz-coincident-md", ["md", pot, coincident, *md_flags, "--traj", o("xyz-coincident-md", "t.extxyz"),
                              "--thermo", o("xyz-coincident-md", "t.csv")], 2, coincident)
    add("xyz-coincident-lammps-deck", ["lammps-deck", pot, coincident, "--protocol", f["protocol.yaml"],
                                       "--outdir", o("xyz-coincident-lammps-deck", "deck")], 2, coincident)
    add("xyz-good-analyze", ["analyze", traj, "--species", "Li", "--no-plots", "--outdir",
                             o("xyz-good-analyze", "an")], 0,
        count=(o("xyz-good-analyze", "an/summary.json"), "json:n_frames_read", n_frames))

    # ---- LAMMPS dumps: analyze and lammps-traj, by type and by element column
    for base, sp, sp_list in ((f["traj.dump"], "1", "Li,Cl"), (f["traj_el.dump"], "Li", None)):
        n_frames = len(_lines(base)) // (9 + N_DUMP_ATOMS)
        for name, (path, line, frames) in dump_variants(inp, base, N_DUMP_ATOMS).items():
            c = f"dump-{base.stem}-{name}"
            rc = 0 if frames else 2
            warn = None if not frames else {"truncated_last": "truncated",
                                            "last_goes_back": "goes back"}.get(name, "restarted run")
            add(f"{c}-analyze", ["analyze", path, "--species", sp, "--frame-interval-fs", "10",
                                 "--no-plots", "--outdir", o(f"{c}-analyze", "an")], rc,
                path if rc else None, line,
                (o(f"{c}-analyze", "an/summary.json"), "json:n_frames_read", frames) if frames else None,
                warn)
            add(f"{c}-lammps-traj", ["lammps-traj", path, "--timestep-fs", "1", "--out",
                                     o(f"{c}-lammps-traj", "t.extxyz")]
                + (["--species", sp_list] if sp_list else []), rc, path if rc else None, line,
                (o(f"{c}-lammps-traj", "t.extxyz"), "extxyz", frames) if frames else None, warn)

    # ---- LAMMPS logs
    for name, (path, line, rows) in log_variants(inp, f["md.log"]).items():
        c = f"log-{name}"
        add(f"{c}-lammps-thermo", ["lammps-thermo", path, "--out", o(c, "t.csv")], 0 if rows else 2,
            None if rows else path, line, (o(c, "t.csv"), "csv", rows) if rows else None,
            "cut short" if name == "killed" else None)

    # ---- MD protocols: md and lammps-deck
    for name, (text, line) in PROTOCOL_BAD.items():
        path = _variant(inp, f"protocol_{name}.yaml", text)
        c = f"protocol-{name}"
        add(f"{c}-md", ["md", pot, start, "--protocol", path, "--traj", o(f"{c}-md", "t.extxyz"),
                        "--thermo", o(f"{c}-md", "t.csv"), "--threads", "1"], 2, path, line)
        add(f"{c}-lammps-deck", ["lammps-deck", pot, start, "--protocol", path, "--outdir",
                                 o(f"{c}-lammps-deck", "deck")], 2, path, line)
    add("protocol-good-md", ["md", pot, start, "--protocol", f["protocol.yaml"], "--traj",
                             o("protocol-good-md", "t.extxyz"), "--thermo", o("protocol-good-md", "t.csv"),
                             "--threads", "1"], 0, count=(o("protocol-good-md", "t.extxyz"), "extxyz", 5),
        tags={"slow"})

    # ---- VASP outputs: collect and convert
    for name, path, rc, frames in _vasp_files(inp, shared):
        c = f"vasp-{name}"
        sp = ["--species", "Ti"] if name.startswith("real") else ["--species", "Li,Cl"]
        add(f"{c}-collect", ["collect", path, *sp, "--out", o(f"{c}-collect", "o.cfg")], rc,
            path if rc else None, None, (o(f"{c}-collect", "o.cfg"), "cfg", frames) if not rc else None,
            "stops early" if not rc and "cut" in name and "outcar" not in name else None)
        add(f"{c}-convert", ["convert", path, o(f"{c}-convert", "o.extxyz")], rc, path if rc else None,
            None, (o(f"{c}-convert", "o.extxyz"), "extxyz", frames) if not rc else None)

    # ---- checkpoints: train --resume and md --resume
    for name, path in f["train_ck_damaged"].items():
        c = f"ckpt-train-{name}"
        add(c, ["train", tpl, ref, "--out", o(c, "t.mtp"), "--max-iter", "3", "--resume", path], 2, path)
    c = "ckpt-train-other-weights"
    add(c, ["train", tpl, ref, "--out", o(c, "t.mtp"), "--max-iter", "3", "--resume", f["train_ck.npz"],
            "--force-weight", "0.5"], 2, f["train_ck.npz"])
    for name, path in f["md_ck_damaged"].items():
        c = f"ckpt-md-{name}"
        add(c, ["md", pot, start, *md_flags, "--traj", o(c, "t.extxyz"), "--thermo", o(c, "t.csv"),
                "--checkpoint", o(c, "ck.npz"), "--resume", path], 2, path)

    # ---- command-line values
    for k, (argv, option) in enumerate(_cli_values(f, inp)):
        cid = f"cli-{k:02d}-{argv[0]}"
        argv = [a.replace("@OUT", str(root / "out" / cid)) for a in map(str, argv)]
        add(cid, argv, 2, option)
    return out


def _vasp_files(inp: Path, shared):
    """(name, file, exit status, frames) for self-made and (when present) real VASP outputs."""
    yield "xml_good", inp / "vasprun.xml", 0, 4
    yield "outcar_good", inp / "OUTCAR", 0, 4
    yield "xml_cut_in_step", _variant(inp, "cut_vasprun.xml", vasprun_text(4, cut_inside_last=True)), 0, 3
    text = vasprun_text(4)
    yield "xml_cut_before_steps", _variant(inp, "early_vasprun.xml", text[:text.index("<calculation>")]), \
        2, None
    yield "xml_empty", _variant(inp, "empty_vasprun.xml", ""), 2, None
    k = text.index("<calculation>", text.index("<calculation>") + 1) + 40
    yield "xml_garbage_mid", _variant(inp, "garbage_vasprun.xml", text[:k] + "<<>>&&" + text[k:]), 2, None
    bad = text.replace("<c>Li </c>", "<c>Xx </c>", 1)
    yield "xml_unknown_element", _variant(inp, "unknown_vasprun.xml", bad), 2, None
    k = text.index("name=\"forces\"")
    k = text.index("<v>", k) + 4
    yield "xml_force_text", _variant(inp, "force_text_vasprun.xml", text[:k] + "abc " + text[k:]), 2, None
    bad = text.replace("<rc><c>Li </c><c>   1</c></rc>\n", "<rc></rc>\n", 1)
    yield "xml_empty_rc", _variant(inp, "empty_rc_vasprun.xml", bad), 2, None
    out = outcar_text(4)
    yield "outcar_cut_in_forces", _variant(inp, "OUTCAR_cut", out[:out.rindex("TOTAL-FORCE") + 200]), 0, 3
    yield "outcar_ions_text", _variant(inp, "OUTCAR_ions", out.replace("ions per type =               2   2",
                                                                      "ions per type =  two two")), 2, None
    yield "outcar_no_potcar", _variant(inp, "OUTCAR_nopotcar", out.replace(" POTCAR:", " POTKAR:")), 2, None
    k = out.index("direct lattice vectors")
    bad = out[:k] + out[k:].replace(" 5.000000000", " 5.0.0", 1)
    yield "outcar_cell_glued", _variant(inp, "OUTCAR_cell", bad), 2, None
    yield "outcar_empty", _variant(inp, "OUTCAR_empty", ""), 2, None
    if shared is None or not (Path(shared) / "vasp_samples").is_dir():
        return
    real = Path(shared) / "vasp_samples" / "ti_aimd"
    raw = (real / "vasprun.xml").read_bytes()
    for frac in (0.5, 0.9):
        yield f"real_xml_cut_{int(frac * 100)}", _variant(inp, f"ti_cut{int(frac * 100)}_vasprun.xml",
                                                          data=raw[:int(len(raw) * frac)]), 0, None
    mid = raw.index(b"<calculation>", len(raw) // 2)
    yield "real_xml_garbage_mid", _variant(inp, "ti_garbage_vasprun.xml",
                                           data=raw[:mid] + b"<</>" + raw[mid:]), 2, None
    outcar = (real / "OUTCAR").read_bytes()
    yield "real_outcar_cut_60", _variant(inp, "OUTCAR_ti_cut", data=outcar[:int(len(outcar) * 0.6)]), \
        0, None


def _cli_values(f, inp):
    """(argv, the option the error must name); outputs go under @OUT (the case's folder)."""
    pot, ref, start, traj = f["pot.mtp"], f["ref.cfg"], f["start.extxyz"], f["traj.extxyz"]
    md = ["md", pot, start, "--traj", "@OUT/t.extxyz", "--thermo", "@OUT/t.csv"]
    one = ["--ensemble", "nvt", "--temperature-K", "300", "--steps", "2"]
    an = ["analyze", traj, "--species", "Li", "--no-plots", "--outdir", "@OUT/an"]
    init = ["init-mtp", "--species", SPECIES, "--out", "@OUT/i.mtp"]
    yield ["calc-efs", pot, ref, "@OUT/o.cfg", "--threads", "99"], "--threads"
    yield ["calc-efs", pot, ref, "@OUT/o.cfg", "--threads", "0"], "--threads"
    yield ["calc-efs", pot, ref, "@OUT/o.cfg", "--species", "Li,,Cl"], "species"
    yield ["calc-efs", pot, ref, "@OUT/o.cfg", "--species", "Li,Xx,Cl"], "Xx"
    yield md + one + ["--threads", "99"], "--threads"
    yield md + ["--ensemble", "nvt", "--temperature-K", "300", "--steps", "-5"], "steps"
    yield md + one + ["--timestep-fs", "nan"], "timestep_fs"
    yield md + one + ["--timestep-fs", "0"], "timestep_fs"
    yield md + ["--ensemble", "nvt", "--temperature-K", "-1", "--steps", "2"], "temperature_K"
    yield md + one + ["--replicate", "0,1,1"], "--replicate"
    yield md + one + ["--replicate", "1,2"], "--replicate"
    yield md + one + ["--traj-every", "0"], "--traj-every"
    yield md + one + ["--seed", "-1"], "--seed"
    yield md + one + ["--checkpoint-every", "5"], "--checkpoint"
    yield ["md", pot, "--random", "Li2Cl2", "--density-factor", "nan", *one, "--traj", "@OUT/t.extxyz",
           "--thermo", "@OUT/t.csv"], "--density-factor"
    yield md + one + ["--steps", "abc"], "--steps"
    yield an + ["--every", "0"], "--every"
    yield an + ["--lags-ps", "1e9"], "--lags-ps"
    yield an + ["--lags-ps", "abc"], "--lags-ps"
    yield an + ["--frame-interval-fs", "-1"], "--frame-interval-fs"
    yield an + ["--fit-range-ps", "1"], "--fit-range-ps"
    yield an + ["--smooth-ps", "-1"], "--smooth-ps"
    yield an + ["--cascade-radius", "nan"], "--cascade-radius"
    yield an + ["--cascade-window", "-2"], "--cascade-window"
    yield an + ["--shuffles", "-1"], "--shuffles"
    yield an + ["--hop-distance", "0"], "--hop-distance"
    yield an + ["--temperature-K", "-300"], "--temperature-K"
    yield an + ["--species", "Xx"], "Xx"
    yield init + ["--level", "7", "--min-dist", "1", "--max-dist", "5"], "level"
    yield init + ["--level", "0", "--min-dist", "1", "--max-dist", "5"], "level"
    yield init + ["--level", "8", "--min-dist", "5", "--max-dist", "1"], "min_dist"
    yield init + ["--level", "8", "--min-dist", "nan", "--max-dist", "5"], "min_dist"
    yield init + ["--level", "8", "--min-dist", "1", "--max-dist", "5", "--radial-basis-size", "0"], \
        "radial_basis_size"
    yield init + ["--level", "8", "--min-dist", "1", "--max-dist", "5", "--radial-funcs-count", "0"], \
        "radial_funcs_count"
    yield ["train", f["template.mtp"], ref, "--out", "@OUT/t.mtp", "--max-iter", "-1"], "--max-iter"
    yield ["train", f["template.mtp"], ref, "--out", "@OUT/t.mtp", "--energy-weight", "nan"], \
        "--energy-weight"
    yield ["train", f["template.mtp"], ref, "--out", "@OUT/t.mtp", "--checkpoint-every", "0"], \
        "--checkpoint-every"
    yield ["train", f["template.mtp"], ref, "--out", "@OUT/t.mtp", "--tolerance", "nan"], "--tolerance"
    yield ["dataset", ref, "--train", "@OUT/a.cfg", "--test", "@OUT/b.cfg", "--summary", "@OUT/s.csv",
           "--test-fraction", "2"], "test"
    yield ["dataset", ref, "--train", "@OUT/a.cfg", "--test", "@OUT/b.cfg", "--summary", "@OUT/s.csv",
           "--block-size", "0"], "block"
    yield ["build-initial", "--formula", "Li0Cl1", "--out", "@OUT/s.vasp"], "formula"
    yield ["build-initial", "--formula", "Xx2", "--out", "@OUT/s.vasp"], "Xx"
    yield ["build-initial", "--density-factor", "-1", "--out", "@OUT/s.vasp"], "--density-factor"
    yield ["build-initial", "--replicate", "a,b,c", "--out", "@OUT/s.vasp"], "--replicate"
    yield ["collect", inp / "vasprun.xml", "--out", "@OUT/o.cfg", "--skip-ps", "-1"], "--skip-ps"
    yield ["collect", inp / "vasprun.xml", "--out", "@OUT/o.cfg", "--every", "0"], "--every"
    yield ["lammps-traj", f["traj.dump"], "--timestep-fs", "0", "--out", "@OUT/t.extxyz"], "--timestep-fs"
    yield ["lammps-traj", f["traj.dump"], "--timestep-fs", "1", "--out", "@OUT/t.extxyz"], "--species"
    yield ["convert", ref, "@OUT/o.cfg", "--species", SPECIES, "--index", "junk"], "--index"
    yield ["convert", ref, "@OUT/o.unknown", "--species", SPECIES], "format"
    yield ["sweep", inp / "missing.json", "--out", "@OUT/s.csv"], "missing.json"
    yield ["densify", ref, "--species", SPECIES, "--volume-factors", "-1", "--out", "@OUT/d.cfg"], \
        "volume"
    yield ["aimd", start, "--steps", "-1", "--traj", "@OUT/a.extxyz"], "steps"
