"""Generate the MTP basis (moments, contraction table, basis functions) for any level.

The rule
--------
A basic moment M_{mu,nu} = sum_j f_mu(r_ij) u_ij^{(x)nu} is a symmetric tensor of rank nu; its level is
2 + 4 mu + nu.  A basis function B_alpha is a full scalar contraction of a product of basic moments
in which every tensor index is contracted with an index of a *different* factor (a self-trace of
M_{mu,nu} is M_{mu,nu-2}, since |u| = 1, so it adds nothing).  Because the factors are symmetric, such
a contraction is exactly an undirected multigraph without loops: one vertex per factor, labelled
(mu, nu), with nu edge ends at that vertex; e_ab edges between a and b mean e_ab indices of a are
contracted with indices of b.  Disconnected graphs are products of scalars (e.g. M_{0,0} * M_{1,0}).
Its level is the sum of its vertices' levels.

A level-L basis is the set of all such graphs, up to isomorphism (permutations of vertices with equal
labels), with level <= L and, as MLIP's templates choose (checked for every template level 02..28):
  * at most 4 factors (vertices): e.g. level 10 has no M_{0,0}^5, level 8 does have M_{0,0}^4;
  * mu <= 5 (so radial_funcs_count = min(floor((L - 2) / 4), 5) + 1: levels 2-4: 1, 6-8: 2,
    10-12: 3, 14-16: 4, 18-20: 5, 22 and above: 6);
  * nu <= 10 (level 26 has no rank-11 moments although 2 (2 + 11) = 26).
With these three limits the number of graphs equals MLIP's alpha_scalar_moments for every level
02..28 and the functions span the same space as the templates (tests/mtp/test_basis.py).  No
linearly dependent graphs are removed (nor are they in MLIP: e.g. from level 16 on, tr(M_{0,2}^4) is
a combination of other basis functions by Cayley-Hamilton, and both keep it).  Odd L give the basis of
L - 1 (every scalar contraction has even level).

Evaluation table (alpha_index_times)
------------------------------------
Every connected graph is evaluated as a bilinear form between two operands, each either a basic
moment (one symmetric index block) or a pair contraction
    X(A, B, e)_{p, q} = sum_{|c| = e} n(c) A_{p + c} B_{q + c}
(two symmetric index blocks; p, q, c are index compositions (a, b, c) and n(c) = |c|!/(a! b! c!) the
number of index sequences with composition c).  A graph with 2 vertices is A : B, with 3 vertices
X(a, b) against the third moment, with 4 vertices X(a, b) against X(c, d); the split with the fewest
new table entries is taken, and pair contractions are shared between graphs.  The integer weight of
a product X_x Y_y is the number of index assignments mapping onto it (products of n(.)), so all
multipliers are integers as MLIP's format requires.  Products of connected scalars are chained.
Moment indices: basic moments first (sorted by mu, nu, then components in MLIP's order), then the
rest in creation order; all entries writing into a moment precede every entry reading it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from math import factorial

import numpy as np

# MLIP's choices (see the module docstring)
MLIP_MAX_FACTORS = 4
MLIP_MAX_MU = 5
MLIP_MAX_NU = 10


@dataclass(frozen=True)
class Basis:
    """A generated MTP basis: the alpha_* tables of an .mtp file plus radial_funcs_count."""

    level: int
    radial_funcs_count: int
    alpha_moments_count: int
    alpha_index_basic: np.ndarray    # (n_basic, 4) rows {mu, a, b, c}
    alpha_index_times: np.ndarray    # (n_times, 4) rows {i, j, mult, k}
    alpha_moment_mapping: np.ndarray  # (n_basis,)
    graphs: tuple                     # per basis function: (labels, edges) as enumerated

    @property
    def alpha_scalar_moments(self) -> int:
        return len(self.alpha_moment_mapping)


def level_of(mu: int, nu: int) -> int:
    return 2 + 4 * mu + nu


def radial_funcs_count_for(level: int, max_mu: int = MLIP_MAX_MU) -> int:
    return min((level - 2) // 4, max_mu) + 1


@lru_cache(maxsize=None)
def compositions(rank: int) -> tuple:
    """Compositions (a, b, c), a + b + c = rank, in MLIP's order ((2,0,0), (1,1,0), (1,0,1), (0,2,0)...)."""
    return tuple((a, b, rank - a - b) for a in range(rank, -1, -1) for b in range(rank - a, -1, -1))


@lru_cache(maxsize=None)
def n_seq(p: tuple) -> int:
    """Number of index sequences with composition p: |p|! / (a! b! c!)."""
    return factorial(sum(p)) // (factorial(p[0]) * factorial(p[1]) * factorial(p[2]))


def _add(p, q):
    return (p[0] + q[0], p[1] + q[1], p[2] + q[2])


# -- enumeration of the contraction graphs --------------------------------------------------------

def _label_multisets(labels, k, budget, start=0):
    """Sorted k-tuples (with repetition) of labels whose levels sum to <= budget."""
    if k == 0:
        yield ()
        return
    for i in range(start, len(labels)):
        lev = level_of(*labels[i])
        if lev + 2 * (k - 1) > budget:        # every further factor has level >= 2
            continue
        for rest in _label_multisets(labels, k - 1, budget - lev, i):
            yield (labels[i],) + rest


def enumerate_graphs(level: int, max_factors=MLIP_MAX_FACTORS, max_mu=MLIP_MAX_MU, max_nu=MLIP_MAX_NU):
    """All non-isomorphic loop-free multigraphs with vertex labels (mu, nu), degree nu, level <= level.

    Returns a list of (labels, edges): labels a sorted tuple of (mu, nu), edges a tuple of e_ab over
    the pairs a < b in lexicographic order, canonical (smallest over label-preserving permutations)."""
    labels = [(mu, nu) for mu in range(max_mu + 1) for nu in range(max_nu + 1)
              if level_of(mu, nu) <= level]
    out = []
    for k in range(1, max_factors + 1):
        pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
        last_pair = {a: max(i for i, pr in enumerate(pairs) if a in pr) for a in range(k)} if k > 1 else {}
        for combo in _label_multisets(labels, k, level):
            if sum(v[1] for v in combo) % 2:
                continue
            if k == 1 and combo[0][1] != 0:
                continue
            perms = [p for p in itertools.permutations(range(k))
                     if all(combo[p[i]] == combo[i] for i in range(k))]
            seen = set()
            rem = [v[1] for v in combo]
            edges = [0] * len(pairs)

            def rec(idx):
                if idx == len(pairs):
                    if not any(rem):
                        yield tuple(edges)
                    return
                a, b = pairs[idx]
                for x in range(min(rem[a], rem[b]) + 1):
                    rem[a] -= x
                    rem[b] -= x
                    edges[idx] = x
                    if (last_pair[a] != idx or rem[a] == 0) and (last_pair[b] != idx or rem[b] == 0):
                        yield from rec(idx + 1)
                    rem[a] += x
                    rem[b] += x

            for e in (rec(0) if k > 1 else iter([()])):
                emat = {pr: x for pr, x in zip(pairs, e)}
                can = min(tuple(emat[(min(p[a], p[b]), max(p[a], p[b]))] for a, b in pairs)
                          for p in perms)
                if can not in seen:
                    seen.add(can)
                    out.append((combo, can))
    return out


def _edge_matrix(labels, edges):
    k = len(labels)
    e = np.zeros((k, k), dtype=np.int64)
    for (a, b), x in zip(((a, b) for a in range(k) for b in range(a + 1, k)), edges):
        e[a, b] = e[b, a] = x
    return e


def _components(labels, edges):
    """Connected components of a graph, each as a canonical (labels, edges) graph."""
    k = len(labels)
    e = _edge_matrix(labels, edges)
    seen, comps = set(), []
    for s in range(k):
        if s in seen:
            continue
        stack, comp = [s], []
        seen.add(s)
        while stack:
            v = stack.pop()
            comp.append(v)
            for w in range(k):
                if e[v, w] and w not in seen:
                    seen.add(w)
                    stack.append(w)
        comp.sort()
        comps.append(_canonical([labels[v] for v in comp], e[np.ix_(comp, comp)]))
    return sorted(comps)


def _canonical(labels, emat):
    k = len(labels)
    order = sorted(range(k), key=lambda v: labels[v])
    labels = tuple(labels[v] for v in order)
    emat = np.asarray(emat)[np.ix_(order, order)]
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    perms = [p for p in itertools.permutations(range(k)) if all(labels[p[i]] == labels[i] for i in range(k))]
    can = min(tuple(int(emat[p[a], p[b]]) for a, b in pairs) for p in perms)
    return labels, can


# -- building the contraction table ---------------------------------------------------------------

class _Builder:
    def __init__(self):
        self.keys: dict = {}          # symbolic moment key -> provisional id
        self.order: list = []         # provisional id -> key
        self.entries: list = []       # (i, j, mult, k) with provisional ids
        self.basic: set = set()

    def basic_id(self, mu, p):
        key = ("B", mu, p)
        if key not in self.keys:
            self.keys[key] = len(self.order)
            self.order.append(key)
            self.basic.add(key)
        return self.keys[key]

    def _new(self, key, entries):
        kid = len(self.order)
        self.keys[key] = kid
        self.order.append(key)
        self.entries.extend((i, j, m, kid) for (i, j), m in entries.items())
        return kid

    # pair contraction X(A, B, e)_{p, q}; A <= B; if A == B then X_{p,q} = X_{q,p} is stored once
    @staticmethod
    def xkey(A, B, e, p, q):
        if A > B:
            A, B, p, q = B, A, q, p
        if A == B and p > q:
            p, q = q, p
        return ("X", A, B, e, p, q)

    def x_cost(self, A, B, e):
        if A > B:
            A, B = B, A
        probe = self.xkey(A, B, e, compositions(A[1] - e)[0], compositions(B[1] - e)[0])
        if probe in self.keys:
            return 0
        return len(compositions(A[1] - e)) * len(compositions(B[1] - e)) * len(compositions(e))

    def x_id(self, A, B, e, p, q):
        key = self.xkey(A, B, e, p, q)
        if key not in self.keys:
            _, A, B, e, p, q = key
            ent: dict = {}
            for c in compositions(e):
                i = self.basic_id(A[0], _add(p, c))
                j = self.basic_id(B[0], _add(q, c))
                ij = (min(i, j), max(i, j))
                ent[ij] = ent.get(ij, 0) + n_seq(c)
            self._new(key, ent)
        return self.keys[key]

    def scalar(self, key, pairs):
        """A scalar moment = sum over pairs ((opid_i, opid_j) -> weight)."""
        if key not in self.keys:
            self._new(key, pairs)
        return self.keys[key]


@lru_cache(maxsize=None)
def _bilinear_weights(n1, n2, pattern):
    """Weights W[(comp per block1), (comp per block2)] of a full contraction of two block-symmetric
    tensors with n1 and n2 blocks; pattern[i][j] = number of indices of block i of operand 1 paired
    with block j of operand 2."""
    cells = [(i, j) for i in range(n1) for j in range(n2)]
    choices = [compositions(pattern[i][j]) for i, j in cells]
    w: dict = {}
    for pick in itertools.product(*choices):
        c1 = [(0, 0, 0)] * n1
        c2 = [(0, 0, 0)] * n2
        mult = 1
        for (i, j), p in zip(cells, pick):
            c1[i] = _add(c1[i], p)
            c2[j] = _add(c2[j], p)
            mult *= n_seq(p)
        key = (tuple(c1), tuple(c2))
        w[key] = w.get(key, 0) + mult
    return w


def _connected_plans(labels, emat):
    """Candidate evaluations of a connected graph: (operand1, operand2, pattern)."""
    k = len(labels)
    if k == 2:
        return [((("M", 0),), (("M", 1),), [[int(emat[0, 1])]])]
    plans = []
    if k == 3:
        for v in range(3):
            a, b = [w for w in range(3) if w != v]
            plans.append(((("X", a, b),), (("M", v),), [[int(emat[a, v])], [int(emat[b, v])]]))
    else:
        for a, b, c, d in ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2)):
            pat = [[int(emat[a, c]), int(emat[a, d])], [int(emat[b, c]), int(emat[b, d])]]
            plans.append(((("X", a, b),), (("X", c, d),), pat))
    return plans


def _eval_connected(bld: _Builder, labels, emat, gkey):
    if gkey in bld.keys:
        return bld.keys[gkey]
    if len(labels) == 1:
        return bld.basic_id(labels[0][0], (0, 0, 0))
    best = None
    for op1, op2, pat in _connected_plans(labels, emat):
        ops = []
        cost = 0
        for (op,) in (op1, op2):
            if op[0] == "M":
                ops.append(("M", labels[op[1]], None))
            else:
                a, b = op[1], op[2]
                ops.append(("X", labels[a], labels[b], int(emat[a, b])))
                cost += bld.x_cost(labels[a], labels[b], int(emat[a, b]))
        w = _bilinear_weights(len(pat), len(pat[0]), tuple(tuple(row) for row in pat))
        cost += len(w)
        if best is None or cost < best[0]:
            best = (cost, ops, w)
    _, ops, w = best

    def comp_id(op, comps):
        if op[0] == "M":
            return bld.basic_id(op[1][0], comps[0])
        return bld.x_id(op[1], op[2], op[3], comps[0], comps[1])

    pairs: dict = {}
    for (c1, c2), mult in w.items():
        i, j = comp_id(ops[0], c1), comp_id(ops[1], c2)
        ij = (min(i, j), max(i, j))
        pairs[ij] = pairs.get(ij, 0) + mult
    return bld.scalar(gkey, pairs)


def _eval_graph(bld: _Builder, labels, edges):
    comps = _components(labels, edges)
    ids = []
    for cl, ce in comps:
        ids.append(_eval_connected(bld, cl, _edge_matrix(cl, ce), ("G", cl, ce)))
    cur = ids[0]
    for t in range(1, len(comps)):
        nkey = ("P",) + tuple(comps[: t + 1])
        if nkey not in bld.keys:
            bld.scalar(nkey, {(min(cur, ids[t]), max(cur, ids[t])): 1})
        cur = bld.keys[nkey]
    return cur


def _graph_sort_key(g):
    labels, edges = g
    return (sum(level_of(*v) for v in labels), len(labels), labels, edges)


_CACHE: dict = {}


def generate_basis(level: int, max_factors=MLIP_MAX_FACTORS, max_mu=MLIP_MAX_MU,
                   max_nu=MLIP_MAX_NU) -> Basis:
    """The basis of a level (cached per argument set in memory); see the module docstring."""
    level = int(level)
    if level < 2:
        raise ValueError(f"the MTP level must be >= 2 (got {level})")
    ck = (level, max_factors, max_mu, max_nu)
    if ck in _CACHE:
        return _CACHE[ck]
    graphs = sorted(enumerate_graphs(level, max_factors, max_mu, max_nu), key=_graph_sort_key)
    bld = _Builder()
    out_ids = [_eval_graph(bld, labels, edges) for labels, edges in graphs]
    basic_keys = sorted(bld.basic, key=lambda key: (key[1], sum(key[2]), tuple(-x for x in key[2])))
    rest = [key for key in bld.order if key not in bld.basic]
    new_index = {}
    for idx, key in enumerate(basic_keys + rest):
        new_index[bld.keys[key]] = idx
    basic = np.array([[key[1], *key[2]] for key in basic_keys], dtype=np.int64).reshape(-1, 4)
    times = np.array([[new_index[i], new_index[j], m, new_index[k]] for i, j, m, k in bld.entries],
                     dtype=np.int64).reshape(-1, 4)
    mapping = np.array([new_index[i] for i in out_ids], dtype=np.int64)
    mu_used = int(basic[:, 0].max()) if len(basic) else 0
    basis = Basis(level=level, radial_funcs_count=mu_used + 1, alpha_moments_count=len(new_index),
                  alpha_index_basic=basic, alpha_index_times=times, alpha_moment_mapping=mapping,
                  graphs=tuple(graphs))
    _CACHE[ck] = basis
    return basis
