"""MLIP-3's #MVS_v1.1 block as mtpflow writes it, read back the way MLIP-3's CfgSelection::Load
reads it (its public source: skip to the first '#', five `key value` pairs, skip to the next '#',
A and A^-T as raw doubles, skip to '#', m lines of two integers, skip to '#', configurations)."""

import numpy as np

from mtpflow.io.active_set import format_mvs_block, read_mvs_block
from mtpflow.io.mtp import format_mtp, parse_mtp
from mtpflow.mtp.grade import ActiveSet
from tests.train.synth import random_potential


def _mlip_load(data: bytes, m: int):
    """A transcription of MLIP-3's Load for one process (ifstream >> and ignore(HUGE_INT, '#'))."""
    pos = data.index(b"#") + 1  # ifs.ignore(HUGE_INT, '#')
    assert data[pos:pos + 1] == b"M"  # ifs.peek() == 'M'

    def word():
        nonlocal pos
        while data[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        tok, pos = data[pos:end].decode(), end
        return tok

    assert word() == "MVS_v1.1"
    weights = {}
    for key in ("energy_weight", "force_weight", "stress_weight", "site_en_weight", "weight_scaling"):
        assert word() == key
        weights[key] = float(word())
    pos = data.index(b"#", pos) + 1
    A = np.frombuffer(data, "<f8", m * m, pos).reshape(m, m)
    inv_t = np.frombuffer(data, "<f8", m * m, pos + 8 * m * m).reshape(m, m)
    pos = data.index(b"#", pos + 16 * m * m) + 1
    links = [(int(word()), int(word())) for _ in range(m)]
    pos = data.index(b"#", pos) + 1
    rest = data[pos:]
    return weights, A, inv_t, links, rest


def test_mvs_block_as_mlip_reads_it():
    pot = random_potential(6, seed=1)
    m = pot.n_params()
    rng = np.random.default_rng(0)
    A = rng.normal(size=(m, m)) + 5 * np.eye(m)
    active = ActiveSet(mode="nbh", A=A, A_inv=np.linalg.inv(A), source=np.zeros((m, 2), dtype=np.int64))
    data = format_mtp(pot).encode() + format_mvs_block(active)
    assert data.index(b"#") == data.index(b"#MVS_v1.1")  # no '#' in the potential's text
    weights, A2, inv_t, links, rest = _mlip_load(data, m)
    assert weights == {"energy_weight": 0.0, "force_weight": 0.0, "stress_weight": 0.0,
                       "site_en_weight": 1.0, "weight_scaling": 2.0}
    np.testing.assert_array_equal(A2, A)
    np.testing.assert_array_equal(inv_t, active.A_inv.T)  # MLIP's grade: B invA^T
    assert links == [(-1, -1)] * m and rest.strip() == b""
    # mtpflow reads the block back, and the potential around it is unchanged
    w, A3, inv3 = read_mvs_block(data[data.index(b"#MVS"):], m)
    np.testing.assert_array_equal(A3, A)
    np.testing.assert_array_equal(inv3, active.A_inv)
    back = parse_mtp(data)
    assert back.model_digest() == pot.model_digest() and back.selection.data.startswith(b"#MVS_v1.1")
    cfg = ActiveSet(mode="cfg", A=A, A_inv=active.A_inv, source=active.source)
    w, _, _, _, _ = _mlip_load(format_mtp(pot).encode() + format_mvs_block(cfg), m)
    assert (w["energy_weight"], w["site_en_weight"]) == (1.0, 0.0)
