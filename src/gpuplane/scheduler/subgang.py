"""Allocating one PodGroup that has SubGroups: KAI's decision-level all-or-nothing.

Gang phase: walk the SubGroup tree (:mod:`gpuplane.scheduler.subgroups`) from the root and
place pods until every *required* SubGroup has its minimum: a leaf its ``minMember`` pods
(running pods count), an inner SubGroup (and the root) ``minSubGroup`` satisfied children
(all when omitted). Children that are not satisfied yet are tried first, in declaration order;
one that cannot be satisfied is rolled back and the next is tried. If the root cannot be
satisfied, everything placed in the decision is rolled back (KAI's ``Discard``) and the pods
stay pending with a reason naming the SubGroup that fell short and by how much.

Topology: a SubGroup (or the root, for the PodGroup's own ``topologyConstraint``) with a
constraint is satisfied inside one candidate domain of
:func:`~gpuplane.scheduler.topology.order_nodes_for_gang`, tried in order, within the domain its
parent chose. With a required level, a domain must hold the SubGroup's running pods too.

Elastic phase: then every remaining pod (beyond the minimums, the elastic default SubGroup's
pods without a label) is placed greedily, each within its SubGroups' chosen domains; the ones
that do not fit stay pending with their own reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from .cycle import PendingReason, Placement
from .snapshot import GroupInfo, Key, PodInfo
from .subgroups import DEFAULT, ROOT, SubGroupTree, display_name
from .topology import NodeGroup, Topology, TopologyConstraint, order_nodes_for_gang

if TYPE_CHECKING:
    from .cycle import _Cluster

__all__ = ["allocate_subgroups"]


@dataclass
class _Failure:
    """Why the SubGroup ``name`` could not be satisfied (the deepest one that fell short)."""

    name: str
    message: str
    gang: dict[str, Any]
    pod_reason: Optional["PendingReason"] = None
    topology: Optional[dict[str, Any]] = None
    code: str = "GangShortfall"


@dataclass
class _Decision:
    c: "_Cluster"
    group: GroupInfo
    tree: SubGroupTree
    pending: dict[str, list[PodInfo]]  # per leaf, oldest first
    active: dict[str, int]  # per leaf
    uses_dra: bool
    placed: list[tuple[PodInfo, "Placement"]] = field(default_factory=list)
    count: dict[str, int] = field(default_factory=dict)  # per leaf: placed in this decision
    domain: dict[str, frozenset[str]] = field(default_factory=dict)  # chosen domain per SubGroup
    failure: Optional[_Failure] = None

    # --- state ------------------------------------------------------------------------------

    def mark(self) -> tuple[int, Any]:
        return len(self.placed), (self.c._dra_checkpoint() if self.uses_dra else None)

    def rollback(self, mark: tuple[int, Any]) -> None:
        n, dra = mark
        while len(self.placed) > n:
            pod, p = self.placed.pop()
            self.c.undo(p, pod)
            self.count[self.leaf_of[pod.key]] -= 1
        if dra is not None:
            self.c._dra_rollback(dra)

    @property
    def all_names(self) -> frozenset[str]:
        names = getattr(self, "_all", None)
        if names is None:
            names = self._all = frozenset(self.c.nodes)
        return names

    @property
    def leaf_of(self) -> dict[Key, str]:
        lo = getattr(self, "_leaf_of", None)
        if lo is None:
            lo = self._leaf_of = {p.key: name for name, pods in self.pending.items() for p in pods}
        return lo

    def have(self, leaf: str) -> int:
        return self.active.get(leaf, 0) + self.count.get(leaf, 0)

    def waiting(self, leaf: str) -> list[PodInfo]:
        return [p for p in self.pending.get(leaf, ()) if p.key not in self.c.placements]

    # --- requirement arithmetic -------------------------------------------------------------

    def satisfied(self, name: str) -> bool:
        node = self.tree.nodes[name]
        if node.is_leaf:
            return self.have(name) >= node.min_member
        return self.n_satisfied(name) >= node.required_children

    def n_satisfied(self, name: str) -> int:
        return sum(1 for k in self.tree.nodes[name].children if k != DEFAULT and self.satisfied(k))

    def feasible(self, name: str) -> bool:
        """Could be satisfied if every pending pod fit (a count check, no placement)."""
        node = self.tree.nodes[name]
        if node.is_leaf:
            return self.have(name) + len(self.waiting(name)) >= node.min_member
        return sum(1 for k in node.children if k != DEFAULT and self.feasible(k)) >= node.required_children

    def min_pods(self, name: str) -> list[PodInfo]:
        """The fewest pending pods that would satisfy ``name`` from here (for domain sizing)."""
        node = self.tree.nodes[name]
        if node.is_leaf:
            return self.waiting(name)[: max(0, node.min_member - self.have(name))]
        lacking = node.required_children - self.n_satisfied(name)
        if lacking <= 0:
            return []
        options = sorted((self.min_pods(k) for k in node.children
                          if k != DEFAULT and not self.satisfied(k) and self.feasible(k)), key=len)
        return [p for opt in options[:lacking] for p in opt]

    def active_nodes(self, name: str) -> set[str]:
        out = set()
        for leaf in self.tree.leaves(name):
            for k in leaf.pods:
                pod = self.c.snap.pods[k]
                if self.c.is_active(pod):
                    out.add(self.c.node_of(pod))
        return out

    # --- gang phase -------------------------------------------------------------------------

    def satisfy(self, name: str, allowed: Optional[frozenset[str]], rank: Optional[dict[str, int]]) -> bool:
        node = self.tree.nodes[name]
        if self.satisfied(name):
            return True
        if node.constraint:
            tc = self.c._constraint(node.constraint)
            if tc is not None:
                return self.satisfy_in_domain(name, allowed, rank, *tc)
        return self.satisfy_here(name, allowed, rank)

    def satisfy_here(self, name: str, allowed: Optional[frozenset[str]], rank: Optional[dict[str, int]]) -> bool:
        node = self.tree.nodes[name]
        m = self.mark()
        if node.is_leaf:
            ok = self.fill_leaf(name, allowed, rank)
        else:
            need = node.required_children
            got = self.n_satisfied(name)
            below: Optional[_Failure] = None
            for kid in node.children:
                if got >= need:
                    break
                if kid == DEFAULT or self.satisfied(kid) or not self.feasible(kid):
                    continue
                self.failure = None
                if self.satisfy(kid, allowed, rank):
                    got += 1
                elif below is None:
                    below = self.failure
            ok = got >= need
            if not ok:
                self.failure = below
                self.failure = self.inner_failure(name, got, need)
        if not ok:
            self.rollback(m)
        return ok

    def fill_leaf(self, name: str, allowed: Optional[frozenset[str]], rank: Optional[dict[str, int]]) -> bool:
        node = self.tree.nodes[name]
        need = node.min_member - self.have(name)
        pods = self.waiting(name)
        got = 0
        failures: dict[Key, "PendingReason"] = {}
        for i, pod in enumerate(pods):
            result = self.place(pod, allowed, rank)
            if not isinstance(result, PendingReason):
                got += 1
                if got >= need:
                    return True
            else:
                failures[pod.key] = result
                if got + (len(pods) - i - 1) < need:
                    break
        first = next(iter(failures.items()), None)
        self.failure = self.leaf_failure(name, got, need, first)
        return False

    def place(self, pod: PodInfo, allowed: Optional[frozenset[str]], rank: Optional[dict[str, int]]) -> Any:
        if allowed is None and rank:
            allowed = self.all_names
        result = self.c.place(pod, self.group) if allowed is None else self.c.place(pod, self.group, allowed, rank)
        if not isinstance(result, PendingReason):
            self.placed.append((pod, result))
            leaf = self.leaf_of[pod.key]
            self.count[leaf] = self.count.get(leaf, 0) + 1
        return result

    def satisfy_in_domain(self, name: str, allowed: Optional[frozenset[str]], rank: Optional[dict[str, int]],
                          topo: Optional[Topology], tc: TopologyConstraint) -> bool:
        info: dict[str, Any] = {"topology": tc.topology, "requiredLevel": tc.required_level or "",
                                "preferredLevel": tc.preferred_level or ""}
        if name != ROOT:
            info["subGroup"] = name
        who = self.who(name)
        groups: list[NodeGroup] = []
        why = ""
        if topo is None:
            why = f"topology {tc.topology or '(none)'} not found (no Topology object has this name)"
        else:
            c = self.c
            nodes = c._topo_nodes(allowed)
            pods = self.min_pods(name)
            demand = c._gang_demand(pods, len(pods))
            info["gpus"] = float(demand.gpus)
            try:
                groups, why = order_nodes_for_gang(nodes, topo, tc, demand)
            except ValueError as err:
                why = str(err)
            if groups and tc.required_level:
                running = self.active_nodes(name)
                if running:
                    groups = [g for g in groups if running <= set(g.nodes)]
                    if not groups:
                        why = (f"its running pods are on nodes {', '.join(sorted(running))}, which no "
                               f"{topo.word(topo.index(tc.required_level))} that can host the rest holds")
        if not groups:
            if not tc.required_level:
                return self.satisfy_here(name, allowed, rank)  # a soft constraint that cannot be read
            info["message"] = why
            self.failure = _Failure(name, f"{who} {why}" if why.startswith("needs ") else f"{who}: {why}",
                                    {**self.gang_info(name, 0), "short": len(self.min_pods(name))},
                                    topology=info, code="TopologyConstraintUnsatisfied")
            return False
        assert topo is not None
        attempts: list[tuple[NodeGroup, Optional[_Failure]]] = []
        for g in groups:
            self.failure = None
            if self.satisfy_here(name, frozenset(g.nodes), self.c._pref_rank(g, topo, tc)):
                if tc.required_level:  # the SubGroup's extra pods stay there (a preferred domain is no fence)
                    self.domain[name] = frozenset(g.nodes)
                return True
            attempts.append((g, self.failure))
        if tc.required_level:
            g, inner = attempts[0]
            word = topo.word(topo.index(tc.required_level))
            tried = f"{len(attempts)} candidate {word}{'s' if len(attempts) != 1 else ''} tried"
            info["message"] = f"no {word} could host {'the gang' if name == ROOT else 'the subgroup'} ({tried}); first attempt: {word} {g.value}"
            info["domain"] = g.value
            inner_msg = inner.message if inner is not None else "it does not fit"
            if inner_msg.startswith(who + ": "):
                inner_msg = inner_msg[len(who) + 2:]
            elif inner_msg.startswith(who + " "):
                inner_msg = inner_msg[len(who) + 1:]
            if inner is not None and inner.topology is not None:  # a SubGroup's domain fell short: say that one
                info = {**inner.topology, "within": f"{word} {g.value}"}
            self.failure = _Failure(name, f"{who}: topology {topo.name}, required level {tc.required_level}: "
                                          f"no {word} could host it ({tried}); in {word} {g.value}: {inner_msg}",
                                    inner.gang if inner is not None else self.gang_info(name, 0),
                                    inner.pod_reason if inner is not None else None, info,
                                    inner.code if inner is not None else "GangShortfall")
        elif self.failure is not None and self.failure.topology is None:
            self.failure.topology = info
        return False

    # --- explanations -----------------------------------------------------------------------

    def who(self, name: str) -> str:
        base = f"gang {self.group.kind} {self.group.ref}"
        return base if name == ROOT else f"{base}: subgroup {display_name(name)}"

    def gang_info(self, name: str, placed: int) -> dict[str, Any]:
        node = self.tree.nodes[name]
        if name == ROOT:
            need = sum(self.active.values()) + len(self.min_pods(ROOT)) + placed
            return {"name": self.group.ref, "kind": self.group.kind, "minMember": max(need, self.tree.total_min),
                    "active": sum(self.active.values()), "pending": sum(len(v) for v in self.pending.values()),
                    "placed": placed, "short": 0}
        leaves = self.tree.leaves(name)
        return {"name": f"{display_name(name)} of {self.group.ref}", "kind": "SubGroup", "subGroup": name,
                "podGroup": self.group.ref,
                "minMember": node.min_member if node.is_leaf else node.required_children,
                "active": sum(self.active.get(lf.name, 0) for lf in leaves),
                "pending": sum(len(self.pending.get(lf.name, ())) for lf in leaves),
                "placed": placed, "short": 0}

    def leaf_failure(self, name: str, got: int, need: int,
                     first: Optional[tuple[Key, "PendingReason"]]) -> _Failure:
        node = self.tree.nodes[name]
        active = self.active.get(name, 0)
        short = need - got
        msg = (f"{self.who(name)}: {active + got} of minimum {node.min_member} pods placed "
               f"({active} running): short by {short} pod{'' if short == 1 else 's'}")
        if first is not None:
            msg += f"; pod {first[0][1]}: {first[1].message}"
        gang = {**self.gang_info(name, got), "short": short}
        return _Failure(name, msg, gang, first[1] if first else None)

    def inner_failure(self, name: str, got: int, need: int) -> _Failure:
        short = need - got
        below = self.failure
        what = "child SubGroups" if name != ROOT else "SubGroups"
        msg = f"{self.who(name)}: {got} of minimum {need} {what} satisfied: short by {short}"
        if below is not None:
            msg += f"; {below.message.split(': ', 1)[1] if below.message.startswith('gang ') else below.message}"
        gang = below.gang if below is not None else {**self.gang_info(name, got), "short": short, "minMember": need}
        return _Failure(name, msg, gang, below.pod_reason if below else None,
                        below.topology if below else None, below.code if below else "GangShortfall")

    def shortfall_without_trying(self, name: str) -> _Failure:
        """The first SubGroup that has too few pods at all (running + pending)."""
        node = self.tree.nodes[name]
        if node.is_leaf:
            have, waiting = self.have(name), len(self.waiting(name))
            short = node.min_member - have - waiting
            msg = (f"{self.who(name)} needs {node.min_member} pods (minMember) but only {have + waiting} exist "
                   f"({have} running, {waiting} pending): short by {short} pod{'' if short == 1 else 's'}")
            return _Failure(name, msg, {**self.gang_info(name, 0), "short": short})
        for kid in node.children:
            if kid != DEFAULT and not self.feasible(kid):
                below = self.shortfall_without_trying(kid)
                break
        else:  # pragma: no cover - feasible() said otherwise
            below = None
        ok = sum(1 for k in node.children if k != DEFAULT and self.feasible(k))
        need = node.required_children
        msg = (f"{self.who(name)}: only {ok} of minimum {need} {'child ' if name != ROOT else ''}SubGroups can be "
               f"satisfied: short by {need - ok}")
        if below is not None:
            msg += f"; {below.message.split(': ', 1)[1] if below.message.startswith('gang ') else below.message}"
        return _Failure(name, msg, {**self.gang_info(name, 0), "minMember": need, "short": need - ok})

    # --- elastic phase ----------------------------------------------------------------------

    def domain_of(self, name: str, itself: bool = True) -> Optional[frozenset[str]]:
        """Where pods under ``name`` may go: the chosen (or running pods') domains of its
        ancestors (and of itself with ``itself``)."""
        out: Optional[frozenset[str]] = None
        chain = self.tree.path(name) if name != ROOT else []
        if not itself and chain:
            chain = chain[1:]
        for n in chain + ([ROOT] if itself or name != ROOT else []):
            dom = self.domain.get(n)
            if dom is None:
                dom = self.running_domain(n)
            if dom is not None:
                out = dom if out is None else out & dom
        return out

    def running_domain(self, name: str) -> Optional[frozenset[str]]:
        node = self.tree.nodes[name]
        if not node.constraint:
            return None
        tc = self.c._constraint(node.constraint)
        if tc is None or tc[0] is None or not tc[1].required_level:
            return None
        topo, con = tc
        running = self.active_nodes(name) | {p.node for pod, p in self.placed if self.leaf_of[pod.key] in
                                             {lf.name for lf in self.tree.leaves(name)}}
        if not running:
            return None
        try:
            labels = topo.levels[: topo.index(con.required_level) + 1]
        except ValueError:
            return None
        paths = set()
        for n in running:
            info = self.c.node_info.get(n)
            lab = (info.node.metadata.labels if info is not None else None) or {}
            paths.add(tuple(lab.get(lv, "") for lv in labels))
        if len(paths) != 1:
            return None
        path = next(iter(paths))
        return frozenset(n.name for n in self.c.snap.nodes
                         if tuple((n.node.metadata.labels or {}).get(lv, "") for lv in labels) == path)

    def pick_domain(self, name: str) -> Optional[str]:
        """A domain for the extra pods of a SubGroup with a required level that has none yet
        (its minimum was met without placing anything): the tightest that hosts them all, else
        the tightest that hosts one."""
        tc = self.c._constraint(self.tree.nodes[name].constraint)
        if tc is None or tc[0] is None or not tc[1].required_level:
            return None
        topo, con = tc
        pods = [p for lf in self.tree.leaves(name) for p in self.waiting(lf.name)]
        if not pods:
            return None
        c = self.c
        nodes = c._topo_nodes(self.domain_of(name, itself=False))
        why = ""
        for some in (pods, pods[:1]):
            try:
                groups, why = order_nodes_for_gang(nodes, topo, con, c._gang_demand(some, len(some)))
            except ValueError as err:
                return str(err)
            if groups:
                self.domain[name] = frozenset(groups[0].nodes)
                return None
        self.domain[name] = frozenset()  # no domain can take even one pod
        return f"{self.who(name)}: extra pods: {why}" if why else f"{self.who(name)}: no domain can take its pods"

    def grow(self, name: str, failures: dict[Key, "PendingReason"]) -> None:
        """Elastic phase below ``name``: a SubGroup that is not satisfied yet (not required) is
        tried as a gang of its own (all or nothing); a satisfied leaf takes its extra pods one by
        one. Pods that stay out get their reason in ``failures``."""
        node = self.tree.nodes[name]
        if not self.satisfied(name):
            self.failure = None
            if not self.feasible(name):
                f = self.shortfall_without_trying(name)
            elif self.satisfy(name, self.domain_of(name, itself=False), None):
                f = None
            else:
                f = self.failure
            if f is not None:
                reason = PendingReason(f.code, f.message, queue=self.group.queue, gang=f.gang,
                                       pod_reason=f.pod_reason, topology=f.topology)
                for leaf in self.tree.leaves(name):
                    for pod in self.waiting(leaf.name):
                        failures[pod.key] = reason
                return
        if node.constraint and name not in self.domain and self.running_domain(name) is None:
            why = self.pick_domain(name)
            if why:
                reason = PendingReason("TopologyConstraintUnsatisfied", why, queue=self.group.queue)
                for leaf in self.tree.leaves(name):
                    for pod in self.waiting(leaf.name):
                        failures[pod.key] = reason
                return
        if node.is_leaf:
            allowed = self.domain_of(name)
            for pod in self.waiting(name):
                result = self.place(pod, allowed, None)
                if isinstance(result, PendingReason):
                    failures[pod.key] = result
            return
        for kid in node.children:
            self.grow(kid, failures)


def _decision(c: "_Cluster", group: GroupInfo, tree: SubGroupTree, pending: list[PodInfo]) -> _Decision:
    by_key = {p.key: p for p in pending}
    per_leaf: dict[str, list[PodInfo]] = {}
    active: dict[str, int] = {}
    for name, node in tree.nodes.items():
        if not node.is_leaf or name == ROOT:
            continue
        per_leaf[name] = [by_key[k] for k in node.pods if k in by_key]
        per_leaf[name].sort(key=lambda p: (p.creation, p.key))
        active[name] = sum(1 for k in node.pods if c.is_active(c.snap.pods[k]))
    return _Decision(c, group, tree, per_leaf, active, any(p.claims for p in pending))


def required_first(c: "_Cluster", group: GroupInfo, tree: SubGroupTree, pending: list[PodInfo]) -> list[PodInfo]:
    """``pending`` with the fewest pods that would satisfy the tree from here first (so that
    code that places "the first ``minMember`` pending pods", like the evicting actions'
    simulations, places pods that make up the gang)."""
    first = _decision(c, group, tree, pending).min_pods(ROOT)
    keys = {p.key for p in first}
    return first + [p for p in pending if p.key not in keys]


def allocate_subgroups(c: "_Cluster", group: GroupInfo, tree: SubGroupTree, pending: list[PodInfo]) -> bool:
    """Allocate a PodGroup with SubGroups (see the module docstring); True if a pod was placed."""
    d = _decision(c, group, tree, pending)
    known = [p for p in pending if p.key in d.leaf_of]
    if not known:
        return False
    if not d.feasible(ROOT):
        f = d.shortfall_without_trying(ROOT)
        _fail(c, group, known, f)
        return False
    start = d.mark()
    if not d.satisfy(ROOT, None, None):
        d.rollback(start)
        _fail(c, group, known, d.failure or _Failure(ROOT, f"{d.who(ROOT)} could not be placed", d.gang_info(ROOT, 0)))
        return False
    failures: dict[Key, PendingReason] = {}
    d.grow(ROOT, failures)
    # the PodGroup's minMember, when set, is a floor on the whole gang
    total = sum(d.have(lf.name) for lf in tree.leaves())
    if total < tree.total_min:
        d.rollback(start)
        short = tree.total_min - total
        first = next(iter(failures.items()), None)
        msg = (f"{d.who(ROOT)} needs {tree.total_min} pods in total (minMember) but only {total} could be "
               f"placed: short by {short} pod{'' if short == 1 else 's'}")
        if first is not None:
            msg += f"; pod {first[0][1]}: {first[1].message}"
        _fail(c, group, known, _Failure(ROOT, msg, {**d.gang_info(ROOT, total), "minMember": tree.total_min,
                                                    "short": short}, first[1] if first else None))
        return False
    for pod in known:
        if pod.key in c.placements:
            c.reasons.pop(pod.key, None)
        elif pod.key in failures:
            c.reasons[pod.key] = failures[pod.key]
    c.group_reasons.pop(group.key, None)
    return bool(d.placed)


def _fail(c: "_Cluster", group: GroupInfo, pods: list[PodInfo], f: _Failure) -> None:
    reason = PendingReason(f.code, f.message, queue=group.queue, gang=f.gang, pod_reason=f.pod_reason,
                             topology=f.topology)
    c._fail_group(group, pods, reason)
