"""The scheduler loop: read the cluster through a client, run one scheduling cycle, write decisions back.

One cycle, as KAI's scheduler does it against an API server:

1. list every kind the scheduler uses (:data:`~gpuplane.scheduler.snapshot.USED_KINDS`);
2. build the snapshot (:meth:`SchedulerLoop.snapshot`, the one place the snapshot is built,
   so a different builder can be plugged in there);
3. run one round of :func:`~gpuplane.scheduler.cycle.run_rounds` at ``now``;
4. write back, in the order kube-scheduler does: claim allocations (a claim made from a
   template is created first, owned by its pod, as the resource-claim controller would), then
   pod bindings (``pods/binding`` with the ``gpuplane.io/gpus`` annotation), then evictions
   (pod deletes; claims owned by the pod go with it). With ``write_status`` the rendered
   statuses of ``gpuplane schedule`` (:func:`~gpuplane.scheduler.output.result_objects`) are
   written through the status subresource where they differ from the stored ones: pending
   pods' ``PodScheduled`` condition and ``nominatedNodeName``, PodGroup scheduling conditions,
   Queue ``status`` (allocated, requested, fairShare). The pod phase is left to the kubelet.

A write that conflicts (the object changed or went away since the list) is skipped and counted:
the next cycle sees the new state and decides again.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..api.core import PENDING
from ..scheduler.config import SchedulerConfig
from ..scheduler.account import RunningAccount
from ..scheduler.cycle import ScheduleResult, run_rounds
from ..scheduler.snapshot import DEFAULT_SCHEDULER_NAME, GPUS_ANNOTATION, USED_KINDS, Snapshot
from ..scheduler.snapshot_state import SnapshotState
from .client import ClusterClient
from .store import Conflict, NotFound, ObjectStore, StoreError, deep_copy

__all__ = ["SchedulerLoop", "CycleOutcome"]

Key = tuple[str, str]
STATUS_KINDS = ("Pod", "PodGroup", "Queue")


@dataclass
class CycleOutcome:
    result: ScheduleResult
    bound: list[Key] = field(default_factory=list)
    evicted: list[Key] = field(default_factory=list)
    status_writes: int = 0
    conflicts: int = 0
    wall_s: float = 0.0  # the whole cycle: list, snapshot, schedule, write back
    snapshot_s: float = 0.0
    schedule_s: float = 0.0


class SchedulerLoop:
    """Runs scheduling cycles on whatever :class:`ClusterClient` it is given."""

    def __init__(self, client: ClusterClient, config: Optional[SchedulerConfig] = None,
                 scheduler_name: str = DEFAULT_SCHEDULER_NAME, write_status: bool = True,
                 snapshot_builder: Optional[Callable[[list[dict[str, Any]], str], Snapshot]] = None) -> None:
        self.client = client
        self.config = config or SchedulerConfig()
        self.scheduler_name = scheduler_name
        self.write_status = write_status
        self._build = snapshot_builder
        # objects come back from the store with uid + resourceVersion: unchanged ones are reused
        self.state = SnapshotState(scheduler_name) if snapshot_builder is None else None
        # running pods' node and queue usage, updated per cycle for the pods that changed
        self.account = RunningAccount()

    def list_objects(self) -> list[dict[str, Any]]:
        """Every object of the kinds the scheduler uses: the stored dicts themselves (read-only;
        the store never changes them in place, so the snapshot state tells changes by identity)."""
        objects: list[dict[str, Any]] = []
        for kind in USED_KINDS:
            items, _ = self.client.list(kind, copy=False)
            objects.extend(items)
        return objects

    def snapshot(self, objects: list[dict[str, Any]]) -> Snapshot:
        """The single place the snapshot is built: ``snapshot_builder`` if given, else the
        :class:`~gpuplane.scheduler.snapshot_state.SnapshotState` kept between cycles, which updates
        the previous snapshot by what changed (the snapshot ``build_snapshot(objects)`` gives)."""
        if self._build is not None:
            return self._build(objects, self.scheduler_name)
        assert self.state is not None
        return self.state.build(objects)

    def run_cycle(self, now: Optional[str] = None) -> CycleOutcome:
        t0 = time.perf_counter()
        snap = self.snapshot(self.list_objects())
        t1 = time.perf_counter()
        result = run_rounds(snap, 1, self.config, now, account=self.account)
        t2 = time.perf_counter()
        out = CycleOutcome(result=result, snapshot_s=t1 - t0, schedule_s=t2 - t1)
        self.write_back(result, out)
        out.wall_s = time.perf_counter() - t0
        return out

    # --- write back -----------------------------------------------------------------------
    def write_back(self, result: ScheduleResult, out: CycleOutcome) -> None:
        snap = result.snapshot
        self._write_claims(result, out)
        # the embedded store need not copy the bound pod it returns: the loop discards it
        no_copy = {"copy": False} if isinstance(self.client, ObjectStore) else {}
        for key, placement in result.placements.items():
            info = snap.pods[key]
            if info.state != PENDING:
                continue  # kept its placement from before
            names = placement.gpu_names
            try:
                self.client.bind(key[1], key[0], placement.node, {GPUS_ANNOTATION: ",".join(names)} if names else None,
                                 **no_copy)
            except StoreError:
                out.conflicts += 1
                continue
            out.bound.append(key)
        for key in result.evicted:
            rv = snap.pods[key].raw.get("metadata", {}).get("resourceVersion")
            try:
                self.client.delete("Pod", key[1], key[0], resource_version=rv)
            except StoreError:
                out.conflicts += 1
                continue
            out.evicted.append(key)
        if self.write_status:
            self._write_statuses(result, out)

    def _write_claims(self, result: ScheduleResult, out: CycleOutcome) -> None:
        snap = result.snapshot
        for ck, allocation in result.claim_allocations.items():
            raw = snap.claims[ck]
            try:
                if ck in snap.generated_claims:
                    created = self.client.create({k: v for k, v in raw.items() if k != "status"})
                    rv = created["metadata"]["resourceVersion"]
                else:
                    rv = raw.get("metadata", {}).get("resourceVersion")
                status = deep_copy(raw.get("status") or {})
                status["allocation"] = allocation
                reserved = list(status.get("reservedFor") or [])
                for pk in result.claim_reserved.get(ck, []):
                    ref = {"resource": "pods", "name": pk[1]}
                    uid = snap.pods[pk].pod.metadata.uid
                    if uid:
                        ref["uid"] = uid
                    reserved.append(ref)
                status["reservedFor"] = reserved
                self.client.update_status({"kind": "ResourceClaim", "apiVersion": raw.get("apiVersion"),
                                           "metadata": {"name": ck[1], "namespace": ck[0], "resourceVersion": rv},
                                           "status": status})
            except StoreError:
                out.conflicts += 1

    def _write_statuses(self, result: ScheduleResult, out: CycleOutcome) -> None:
        from ..scheduler.output import result_objects

        bound = set(out.bound)
        evicted = set(result.evicted)
        # render only the pods whose status this cycle can change (pending ones with a reason,
        # new bindings, nominations): running pods come out as they went in
        snap = result.snapshot
        touched = set(result.reasons) | bound | set(result.nominated) | {
            k for k, p in snap.pods.items() if p.state == PENDING or (p.raw.get("status") or {}).get("nominatedNodeName")}
        view = dataclasses.replace(result, snapshot=dataclasses.replace(
            snap, pods={k: p for k, p in snap.pods.items() if k in touched}))
        for obj in result_objects(view):
            kind = obj.get("kind")
            if kind not in STATUS_KINDS:
                continue
            meta = obj.get("metadata", {})
            key = (meta.get("namespace", ""), meta.get("name", ""))
            if kind == "Pod":
                if key in evicted:
                    continue
                info = result.snapshot.pods.get(key)
                old_status = info.raw.get("status") if info else None
                status = obj.get("status") or {}
                if key in bound:
                    status = dict(status)
                    status["phase"] = (old_status or {}).get("phase", "Pending")  # the kubelet's to change
            else:
                try:
                    old_status = self.client.get(kind, key[1], key[0]).get("status")
                except NotFound:
                    continue  # the implicit default-queue
                status = obj.get("status")
            if (status or None) == (old_status or None):
                continue
            write = {"kind": kind, "apiVersion": obj.get("apiVersion"),
                     "metadata": {"name": key[1], "namespace": key[0]}, "status": status}
            if kind == "Pod" and key not in bound:
                write["metadata"]["resourceVersion"] = meta.get("resourceVersion")
            try:
                self.client.update_status(write)
                out.status_writes += 1
            except (Conflict, NotFound):
                out.conflicts += 1
