"""KAI's fair-share division, per resource, top-down through the queue hierarchy.

Pure functions over plain inputs. The algorithm and every formula are written out in
``docs/fairness.md``; in short, for one set of siblings sharing ``total`` of a resource:

1. Deserved phase: ``share_q = min(deserved_q, requestable_q)`` where ``deserved_q`` is the
   quota (``-1`` => ``total``) and ``requestable_q = min(limit_q, request_q)`` (limit ``-1`` =>
   no cap). If these add up to more than ``total`` (quotas oversubscribe the parent), every
   one is scaled by ``total / sum`` (KAI would hand them out anyway; see the doc).
2. Over-quota phase: priority buckets, highest first; inside a bucket, rounds of water
   filling: each unsatisfied queue with ``overQuotaWeight > 0`` gets
   ``remaining * P_i / sum(P)`` with ``P_i = max(0, W'_i + k * (W'_i - U'_i))``,
   ``W'_i = w_i / sum(w of unsatisfied)``, ``U'_i`` its normalized historical usage (0 without
   usage data), capped at what it still requests; the unused part goes round again.
3. Children divide their parent's share the same way, recursively.

Differences from KAI (``mode="kai"`` reproduces KAI instead): a lone queue in a priority
bucket gets at most what it can use (KAI gives it everything left); children's requests are
capped by their limits when added up the tree; gpuplane divides exactly (rational arithmetic) instead of flooring
over-quota gives to whole units and handing leftovers out one unit at a time; and it scales
oversubscribed deserved quotas down to the capacity. :func:`compute_fair_shares` rounds each
exact share down to the nearest float, so sums never exceed the capacity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, Optional, Sequence, Union

from .queues import UNLIMITED, QueueTree, ResourceSpec

__all__ = [
    "Sibling",
    "divide_among_siblings",
    "divide_among_siblings_kai",
    "compute_fair_shares",
    "compute_fair_shares_exact",
    "aggregate_demand",
]

Number = Union[int, float, Fraction]


def _exact(value: Number, what: str) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what}: expected a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what}: must be finite, got {value!r}")
    return Fraction(value)


@dataclass(frozen=True)
class Sibling:
    """One queue's inputs for one resource at one level of the tree."""

    name: str
    request: Fraction
    spec: ResourceSpec = ResourceSpec()
    priority: int = 100
    usage: Fraction = Fraction(0)  # normalized historical usage U' (time-based fairshare)
    creation_timestamp: str = ""
    uid: str = ""


def _capped(spec: ResourceSpec, request: Fraction) -> Fraction:
    if spec.limit == UNLIMITED:
        return request
    return min(Fraction(spec.limit), request)


def _requestable(s: Sibling) -> Fraction:
    return _capped(s.spec, s.request)


def divide_among_siblings(total: Fraction, siblings: Sequence[Sibling], k_value: Number = 1) -> dict[str, Fraction]:
    """Fair shares of ``total`` among one set of siblings (exact). See the module docstring."""
    total = _exact(total, "total")
    k = _exact(k_value, "k_value")
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    share: dict[str, Fraction] = {}
    cap: dict[str, Fraction] = {}
    for s in siblings:
        cap[s.name] = _requestable(s)
        deserved = total if s.spec.quota == UNLIMITED else Fraction(s.spec.quota)
        share[s.name] = min(deserved, cap[s.name])
    given = sum(share.values(), Fraction(0))
    if given > total:
        # Quotas oversubscribe what the parent has: scale the deserved phase down.
        for name in share:
            share[name] = share[name] * total / given
        given = total
    remaining = total - given

    for prio in sorted({s.priority for s in siblings}, reverse=True):
        bucket = [s for s in siblings if s.priority == prio and s.spec.over_quota_weight > 0]
        while remaining > 0:
            unsat = [s for s in bucket if share[s.name] < cap[s.name]]
            if not unsat:
                break
            wsum = sum((Fraction(s.spec.over_quota_weight) for s in unsat), Fraction(0))
            p = {}
            for s in unsat:
                w = Fraction(s.spec.over_quota_weight) / wsum
                p[s.name] = max(Fraction(0), w + k * (w - s.usage))
            psum = sum(p.values(), Fraction(0))
            if psum <= 0:
                break
            handed = Fraction(0)
            satisfied = False
            for s in unsat:
                give = remaining * p[s.name] / psum
                need = cap[s.name] - share[s.name]
                if need <= give:
                    give = need
                    satisfied = True
                share[s.name] += give
                handed += give
            remaining -= handed
            if not satisfied:
                break  # everything was handed out exactly
    return share


def aggregate_demand(tree: QueueTree, demand: Mapping[str, Mapping[str, Number]], resource: str,
                     cap_by_child_limits: bool = True) -> dict[str, Fraction]:
    """``request_q`` for every queue: its own demand plus, for each child ``c``, the part of
    ``request_c`` that ``c``'s limit lets it use (``min(limit_c, request_c)``), so a parent is
    never given a share that no queue below it may use. With ``cap_by_child_limits=False``
    the raw requests are added, as KAI does."""
    for name in demand:
        if name not in tree:
            raise KeyError(f"demand names an unknown queue {name!r}")
    agg: dict[str, Fraction] = {}
    for name in reversed(tree.walk()):  # children before parents
        own = _exact(demand.get(name, {}).get(resource, 0), f"demand[{name!r}][{resource!r}]")
        if own < 0:
            raise ValueError(f"demand[{name!r}][{resource!r}] must be >= 0, got {own}")
        if cap_by_child_limits:
            agg[name] = own + sum((_capped(tree[c].spec(resource), agg[c]) for c in tree.children(name)), Fraction(0))
        else:
            agg[name] = own + sum((agg[c] for c in tree.children(name)), Fraction(0))
    return agg


def _siblings(tree: QueueTree, names: list[str], resource: str, req: Mapping[str, Fraction],
              usage: Mapping[str, Mapping[str, Number]]) -> list[Sibling]:
    return [
        Sibling(
            name=n,
            request=req[n],
            spec=tree[n].spec(resource),
            priority=tree[n].priority,
            usage=_exact(usage.get(n, {}).get(resource, 0), f"usage[{n!r}][{resource!r}]"),
            creation_timestamp=tree[n].creation_timestamp,
            uid=tree[n].uid,
        )
        for n in names
    ]


def _top_down(tree: QueueTree, capacity: Mapping[str, Number], demand: Mapping[str, Mapping[str, Number]],
              usage: Optional[Mapping[str, Mapping[str, Number]]], divide, cap_by_child_limits: bool) -> dict[str, dict]:
    usage = usage or {}
    out: dict[str, dict] = {name: {} for name in tree}
    for resource in capacity:
        total = _exact(capacity[resource], f"capacity[{resource!r}]")
        if total < 0:
            raise ValueError(f"capacity[{resource!r}] must be >= 0, got {total}")
        req = aggregate_demand(tree, demand, resource, cap_by_child_limits)
        for name, value in divide(total, _siblings(tree, tree.roots, resource, req, usage)).items():
            out[name][resource] = value
        for parent in tree.walk():
            kids = tree.children(parent)
            if kids:
                for name, value in divide(out[parent][resource], _siblings(tree, kids, resource, req, usage)).items():
                    out[name][resource] = value
    return out


def compute_fair_shares_exact(
    tree: QueueTree,
    capacity: Mapping[str, Number],
    demand: Mapping[str, Mapping[str, Number]],
    usage: Optional[Mapping[str, Mapping[str, Number]]] = None,
    k_value: Number = 1,
) -> dict[str, dict[str, Fraction]]:
    """Exact fair share of every queue (parents included) for every resource in ``capacity``.

    ``demand[q][r]``: allocated + pending request of queue ``q`` (normally leaves only; a
    parent's own entry is added to its subtree's). ``usage[q][r]``: normalized historical usage
    ``U'`` for time-based fairshare (default 0).
    """
    return _top_down(tree, capacity, demand, usage,
                     lambda total, sibs: divide_among_siblings(total, sibs, k_value), True)


def _float_down(x: Fraction) -> float:
    """The largest float <= x."""
    f = float(x)
    if Fraction(f) > x:
        f = math.nextafter(f, -math.inf)
    return f


def compute_fair_shares(
    tree: QueueTree,
    capacity: Mapping[str, Number],
    demand: Mapping[str, Mapping[str, Number]],
    usage: Optional[Mapping[str, Mapping[str, Number]]] = None,
    k_value: Number = 1,
    mode: str = "exact",
) -> dict[str, dict[str, float]]:
    """Fair share of every queue for every resource in ``capacity``, as floats.

    ``mode="exact"`` (default): :func:`compute_fair_shares_exact` with every share rounded down
    to a float. Rounding down keeps every bound of the exact result: a share never exceeds its
    demand or limit, siblings never exceed their parent, and a deserved quota (itself a float)
    is still met exactly.

    ``mode="kai"``: KAI's own division (:func:`divide_among_siblings_kai`), float arithmetic,
    flooring and all, for comparisons with KAI.
    """
    if mode == "kai":
        k = float(k_value)
        return _top_down(tree, capacity, demand, usage,
                         lambda total, sibs: divide_among_siblings_kai(float(total), sibs, k), False)
    if mode != "exact":
        raise ValueError(f"mode must be 'exact' or 'kai', got {mode!r}")
    fast = _fast_fair_shares(tree, capacity, demand, usage, k_value)
    if fast is not None:
        return fast
    exact = compute_fair_shares_exact(tree, capacity, demand, usage, k_value)
    return {q: {r: _float_down(v) for r, v in res.items()} for q, res in exact.items()}


# --- the same division in integers (compute_fair_shares' fast path) ---------------------------


def _ratio_of(value: object) -> Optional[tuple[int, int]]:
    """``value`` as ``(numerator, denominator)`` exactly; ``None`` where :func:`_exact` would
    not take it quietly (a bool, a non-number, a float that is not finite)."""
    t = type(value)
    if t is Fraction or t is int:
        return value.numerator, value.denominator  # type: ignore[union-attr]
    if t is float and math.isfinite(value):  # type: ignore[arg-type]
        return value.as_integer_ratio()  # type: ignore[union-attr]
    return None


def _lcm_of(dens: Sequence[int]) -> int:
    out = 1
    for d in dens:
        if d != 1 and out % d:
            out = out * d // math.gcd(out, d)
    return out


_FAST_TREES: dict[int, tuple[QueueTree, list[str], list[str], dict[str, list[str]], dict[str, int]]] = {}


def _tree_shape(tree: QueueTree) -> tuple[list[str], list[str], dict[str, list[str]], dict[str, int]]:
    """``(names in tree order, walk order, children per queue, priority per queue)`` (queue trees
    are immutable: kept per tree object)."""
    hit = _FAST_TREES.get(id(tree))
    if hit is not None and hit[0] is tree:
        return hit[1], hit[2], hit[3], hit[4]
    names = list(tree)
    shape = (names, tree.walk(), {n: tree.children(n) for n in names}, {n: tree[n].priority for n in names})
    if len(_FAST_TREES) > 8:
        _FAST_TREES.clear()
    _FAST_TREES[id(tree)] = (tree, *shape)
    return shape


def _divide_ints(tn: int, td: int, sibs: list[tuple[str, int, Optional[int], Optional[int], int, int]],
                 k1_positive: bool) -> tuple[dict[str, int], int]:
    """:func:`divide_among_siblings` for ``total = tn / td`` (``td > 0``) with every amount an int
    in one common unit and no historical usage; shares come back as numerators over one common
    denominator. ``sibs``: ``(name, request, quota or None (unlimited), limit or None, priority,
    weight)`` with the weights scaled to ints of one common unit (0 for a weight <= 0).
    ``k1_positive``: ``1 + k > 0``. With no usage, ``P_i = (1 + k) W'_i``, so a round gives
    ``remaining * w_i / sum(w of unsatisfied)`` when ``1 + k > 0`` and nothing otherwise."""
    d = td
    share: dict[str, int] = {}
    cap: dict[str, int] = {}
    for name, request, quota, limit, _, _ in sibs:
        c = request if limit is None or request <= limit else limit
        cap[name] = c * td
        deserved = tn if quota is None else quota * td
        share[name] = deserved if deserved < cap[name] else cap[name]
    given = sum(share.values())
    if given > tn:
        # Quotas oversubscribe what the parent has: scale the deserved phase down (nothing remains)
        return {name: v * tn for name, v in share.items()}, d * given
    remaining = tn - given
    if remaining <= 0 or not k1_positive:
        return share, d
    for prio in sorted({s[4] for s in sibs}, reverse=True):
        bucket = [(s[0], s[5]) for s in sibs if s[4] == prio and s[5] > 0]
        while remaining > 0:
            unsat = [(name, w) for name, w in bucket if share[name] < cap[name]]
            if not unsat:
                break
            wsum = sum(w for _, w in unsat)
            # a new common denominator d * wsum: every amount times wsum
            d *= wsum
            for name in share:
                share[name] *= wsum
                cap[name] *= wsum
            handed = 0
            satisfied = False
            for name, w in unsat:
                give = remaining * w
                need = cap[name] - share[name]
                if need <= give:
                    give = need
                    satisfied = True
                share[name] += give
                handed += give
            remaining = remaining * wsum - handed
            if not satisfied:
                break  # everything was handed out exactly
    return share, d


def _fast_fair_shares(tree: QueueTree, capacity: Mapping[str, Number], demand: Mapping[str, Mapping[str, Number]],
                      usage: Optional[Mapping[str, Mapping[str, Number]]], k_value: Number
                      ) -> Optional[dict[str, dict[str, float]]]:
    """:func:`compute_fair_shares` (exact mode) in integer arithmetic, or ``None`` where it does
    not apply (historical usage, or an input the exact path would reject or that is not a plain
    number: that path then runs and says why). Per resource every amount is scaled by the least
    common multiple of the denominators, and each division keeps one common denominator: the
    same rationals as the Fraction path, so the same floats (differential test in
    tests/test_fairshare.py)."""
    if usage:
        return None
    k = _ratio_of(k_value)
    if k is None:
        return None
    k1_positive = k[0] + k[1] > 0  # 1 + k > 0 (denominator > 0)
    for name in demand:
        if name not in tree:
            return None
    names, walk, children, prio = _tree_shape(tree)
    out: dict[str, dict[str, float]] = {name: {} for name in names}
    for resource in capacity:
        total = _ratio_of(capacity[resource])
        if total is None or total[0] < 0:
            return None
        own: dict[str, tuple[int, int]] = {}
        specs: dict[str, tuple[Optional[tuple[int, int]], Optional[tuple[int, int]], Optional[tuple[int, int]]]] = {}
        dens = [total[1]]
        for name in names:
            row = demand.get(name)
            v = _ratio_of(row.get(resource, 0)) if row is not None else (0, 1)
            if v is None or v[0] < 0:
                return None
            own[name] = v
            dens.append(v[1])
            spec = tree[name].spec(resource)
            for x in (spec.quota, spec.limit, spec.over_quota_weight):
                if type(x) is not float and type(x) is not int or not math.isfinite(x):
                    return None
            quota = None if spec.quota == UNLIMITED else spec.quota.as_integer_ratio()
            limit = None if spec.limit == UNLIMITED else spec.limit.as_integer_ratio()
            weight = spec.over_quota_weight.as_integer_ratio() if spec.over_quota_weight > 0 else None
            if quota is not None:
                dens.append(quota[1])
            if limit is not None:
                dens.append(limit[1])
            specs[name] = (quota, limit, weight)
        unit = _lcm_of(dens)  # every amount is an int number of 1/unit
        wunit = _lcm_of([w[1] for _, _, w in specs.values() if w is not None])
        quota_i: dict[str, Optional[int]] = {}
        limit_i: dict[str, Optional[int]] = {}
        weight_i: dict[str, int] = {}
        for name, (quota, limit, weight) in specs.items():
            quota_i[name] = None if quota is None else quota[0] * (unit // quota[1])
            limit_i[name] = None if limit is None else limit[0] * (unit // limit[1])
            weight_i[name] = 0 if weight is None else weight[0] * (wunit // weight[1])
        agg: dict[str, int] = {}
        for name in reversed(walk):  # children before parents (aggregate_demand, capped by child limits)
            a = own[name][0] * (unit // own[name][1])
            for c in children[name]:
                lim, v = limit_i[c], agg[c]
                a += v if lim is None or v <= lim else lim
            agg[name] = a

        def divide(tn: int, td: int, group: list[str]) -> dict[str, tuple[int, int]]:
            sibs = [(n, agg[n], quota_i[n], limit_i[n], prio[n], weight_i[n]) for n in group]
            nums, den = _divide_ints(tn, td, sibs, k1_positive)
            return {n: (v, den) for n, v in nums.items()}

        got: dict[str, tuple[int, int]] = {}
        got.update(divide(total[0] * (unit // total[1]), 1, tree.roots))
        for parent in walk:
            kids = children[parent]
            if kids:
                pn, pd = got[parent]
                got.update(divide(pn, pd, kids))
        for name in names:
            n, den = got[name]
            out[name][resource] = _float_down_ratio(n, den * unit)
    return out


def _float_down_ratio(n: int, d: int) -> float:
    """The largest float <= n / d (``d > 0``): :func:`_float_down` without a Fraction."""
    f = n / d  # correctly rounded, as float(Fraction(n, d))
    a, b = f.as_integer_ratio()
    if a * d > n * b:
        f = math.nextafter(f, -math.inf)
    return f


# --- KAI's division, for comparison ----------------------------------------------------------


def divide_among_siblings_kai(total: float, siblings: Sequence[Sibling], k_value: float = 1.0) -> dict[str, float]:
    """KAI's ``resource_division.go`` (``setResourceShare``) for one set of siblings, in float64.

    Reproduced as written there, including its quirks: deserved amounts are handed out even when
    they exceed ``total``; a priority bucket holding a single queue receives *all* that remains,
    whatever it requests; over-quota gives that do not satisfy a queue are floored to whole
    units; the floored-off leftovers are then handed out one unit (or what is left, if less) per
    queue, largest leftover first, then older creationTimestamp, then UID. Where KAI iterates a
    Go map, gpuplane uses the sibling order given (tree order: creation time, then name).
    """
    share = {s.name: 0.0 for s in siblings}
    limit = {s.name: float(s.spec.limit) for s in siblings}
    request = {s.name: float(s.request) for s in siblings}

    def requestable(n: str) -> float:
        return request[n] if limit[n] == UNLIMITED else min(limit[n], request[n])

    def satisfied(n: str) -> bool:
        return request[n] <= share[n] or (limit[n] != UNLIMITED and limit[n] <= share[n])

    def remaining_requested(n: str) -> float:
        r = requestable(n)
        return 0.0 if r < share[n] else r - share[n]

    remaining = total
    for s in siblings:
        deserved = total if s.spec.quota == UNLIMITED else float(s.spec.quota)
        amount = min(deserved, requestable(s.name))
        share[s.name] += amount
        remaining -= amount
    if remaining <= 0:
        return share

    prios = sorted({s.priority for s in siblings}, reverse=True)
    leftovers: dict[int, dict[str, float]] = {}
    for prio in prios:
        bucket = [s for s in siblings if s.priority == prio]
        rr: dict[str, float] = {}
        while True:
            another = False
            round_amount = remaining
            if len(bucket) == 1:
                share[bucket[0].name] += remaining
                remaining = 0.0
                break
            total_w = sum(float(s.spec.over_quota_weight) for s in bucket if remaining_requested(s.name) > 0)
            if total_w == 0:
                break
            weights: dict[str, float] = {}
            for s in bucket:
                if satisfied(s.name):
                    continue
                nw = float(s.spec.over_quota_weight) / total_w
                weights[s.name] = max(0.0, nw + k_value * (nw - float(s.usage)))
            wsum = sum(weights.values())
            if wsum == 0:
                break
            for s in bucket:
                if remaining == 0:
                    break
                if satisfied(s.name):
                    continue
                requested = remaining_requested(s.name)
                if s.spec.over_quota_weight == 0:
                    continue
                fair = round_amount * weights[s.name] / wsum
                if requested <= fair:
                    give = requested
                    rr.pop(s.name, None)
                else:
                    give = float(math.floor(fair)) if math.floor(fair) > 0 else 0.0
                    if fair - give > 0:
                        rr[s.name] = fair - give
                if give == 0:
                    continue
                share[s.name] += give
                remaining -= give
                another = another or requested < fair
            if not another or remaining == 0:
                break
        leftovers[prio] = rr
    by_name = {s.name: s for s in siblings}
    for prio in prios:
        if remaining <= 0:
            break
        rr = leftovers.get(prio) or {}
        order = sorted(rr, key=lambda n: (-rr[n], by_name[n].creation_timestamp or "~", by_name[n].uid))
        for n in order:
            if remaining == 0:
                break
            give = min(1.0, remaining)
            share[n] += give
            remaining -= give
    return share
