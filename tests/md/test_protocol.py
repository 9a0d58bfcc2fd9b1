"""Protocol validation and YAML reading: errors name the key; durations and ramps resolve."""

from __future__ import annotations

import pytest

from mtpflow.errors import InputError
from mtpflow.io.md_files import read_protocol
from mtpflow.md.protocol import protocol_from_dict, single_stage_protocol


def test_quench_duration_from_rate():
    p = protocol_from_dict({"stages": [{"type": "quench", "start_K": 1000, "end_K": 300,
                                        "rate_K_per_s": 4.5e11}]})
    # 700 K / 4.5e11 K/s = 1.5556 ns = 1,555,556 steps of 1 fs
    assert p.stages[0].n_steps == 1555556
    s = p.stages[0]
    assert s.target_K(0) == 1000
    assert s.target_K(s.n_steps // 2) == pytest.approx(650, abs=1e-3)


def test_durations_and_defaults():
    p = protocol_from_dict({"timestep_fs": 2.0, "stages": [
        {"type": "melt", "temperature_K": 1000, "time_ps": 10},
        {"type": "production", "temperature_K": 300, "time_ns": 0.001, "ensemble": "npt",
         "pressure_GPa": 0.1}]})
    assert [s.n_steps for s in p.stages] == [5000, 500]
    assert p.stage_bounds() == [(0, 5000), (5000, 5500)]
    assert p.start_temperature_K() == 1000
    assert p.max_temperature_K() == 3000
    assert p.digest() != protocol_from_dict({"stages": [{"type": "melt", "temperature_K": 1000,
                                                          "time_ps": 10}]}).digest()


@pytest.mark.parametrize("stage, fragment", [
    ({"type": "boil", "temperature_K": 1, "steps": 1}, "stages[0].type = 'boil'"),
    ({"type": "quench", "start_K": 1000, "end_K": 300, "rate_K_per_s": -1e12}, "stages[0].rate_K_per_s"),
    ({"type": "melt", "temperature_K": -5, "steps": 10}, "stages[0].temperature_K"),
    ({"type": "melt", "temperature_K": 1000, "steps": -10}, "stages[0].steps"),
    ({"type": "melt", "temperature_K": 1000}, "exactly one duration"),
    ({"type": "melt", "temperature_K": 1000, "steps": 5, "time_ps": 1}, "exactly one duration"),
    ({"type": "melt", "ensemble": "nve", "steps": 5}, "needs a thermostat"),
    ({"type": "production", "steps": 5}, "temperature_K is required"),
    ({"type": "melt", "temperature_K": 1000, "steps": 5, "thermostat": "andersen"}, "thermostat"),
    ({"type": "melt", "temperature_K": 1000, "steps": 5, "colour": 1}, "unknown key(s) colour"),
    ({"type": "anneal", "temperature_K": 300, "steps": 5, "ensemble": "npt", "thermostat": "langevin"},
     "npt uses"),
])
def test_bad_stage_names_the_key(stage, fragment):
    with pytest.raises(InputError) as exc:
        protocol_from_dict({"stages": [stage]})
    assert fragment in str(exc.value)


def test_bad_top_level():
    with pytest.raises(InputError, match="timestep_fs"):
        protocol_from_dict({"timestep_fs": 0, "stages": [{"type": "melt", "temperature_K": 1, "steps": 1}]})
    with pytest.raises(InputError, match="stages"):
        protocol_from_dict({"stages": []})
    with pytest.raises(InputError, match="blowup: unknown"):
        protocol_from_dict({"blowup": {"x": 1}, "stages": [{"type": "melt", "temperature_K": 1, "steps": 1}]})


def test_yaml_file_errors_name_file_and_line(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("timestep_fs: 1.0\nstages:\n  - {type: melt, temperature_K: 1000, time_ps: 1}\n"
                    "  - {type: quench, start_K: 1000, end_K: 300, rate_K_per_s: 1e14}\n")
    p = read_protocol(good)
    assert [s.type for s in p.stages] == ["melt", "quench"] and p.stages[1].n_steps == 7000
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - {type: melt, temperature_K: 1000, time_ps: 1\n")
    with pytest.raises(InputError, match=r"bad.yaml:\d+: not valid YAML"):
        read_protocol(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("stages:\n  - {type: melt, temperature_K: 1000, steps: 5, ensemble: nvx}\n")
    with pytest.raises(InputError, match=r"wrong.yaml: stages\[0\].ensemble"):
        read_protocol(wrong)
    with pytest.raises(InputError, match="cannot read"):
        read_protocol(tmp_path / "missing.yaml")


def test_single_stage():
    p = single_stage_protocol("nve", 300.0, 100, 0.5, seed=3)
    assert p.stages[0].ensemble == "nve" and p.stages[0].start_K is None
    assert p.initial_temperature_K == 300 and p.seed == 3 and p.timestep_fs == 0.5
    with pytest.raises(InputError, match="temperature_K is required"):
        single_stage_protocol("nvt", None, 100)
    assert single_stage_protocol("nve", None, 10).initial_temperature_K == 0.0  # at rest
    npt = single_stage_protocol("npt", 500.0, 10, pressure_GPa=0.5).stages[0]
    assert (npt.ensemble, npt.start_K, npt.pressure_GPa) == ("npt", 500.0, 0.5)
    assert single_stage_protocol("nvt", 500.0, 10, pressure_GPa=0.5).stages[0].pressure_GPa == 0.0


@pytest.mark.parametrize("flags, expect", [
    (["--ensemble", "npt", "--temperature-K", "500", "--steps", "10", "--pressure-GPa", "0.5",
      "--timestep-fs", "2"], (("npt", 500.0, 10), dict(timestep_fs=2.0, pressure_GPa=0.5))),
    (["--ensemble", "nve", "--steps", "7"], (("nve", None, 7), {})),
    (["--ensemble", "nvt", "--temperature-K", "300", "--steps", "5", "--seed", "4",
      "--traj-every", "3"], (("nvt", 300.0, 5), dict(seed=4, traj_every=3))),
])
def test_cli_one_stage_flags_build_single_stage_protocol(flags, expect):
    """`mtpflow md`'s one-stage flags give exactly single_stage_protocol's protocol."""
    from mtpflow.cli import build_parser
    from mtpflow.commands.md import _protocol

    args = build_parser().parse_args(["md", "pot.mtp", "start.extxyz", *flags, "--traj", "t.extxyz",
                                      "--thermo", "t.csv"])
    (ensemble, temperature, steps), kw = expect
    assert _protocol(args).to_dict() == single_stage_protocol(ensemble, temperature, steps,
                                                              **kw).to_dict()
