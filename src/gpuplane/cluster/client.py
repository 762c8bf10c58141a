"""The interface the scheduler loop talks to: the embedded store now, an API server later.

Names and meanings follow the Kubernetes API (list with a resourceVersion, update with optimistic
concurrency, the status and binding subresources, delete with cascade, watch from a version).
"""
from __future__ import annotations

from typing import Any, Iterator, Optional, Protocol, runtime_checkable

from .store import WatchEvent

__all__ = ["ClusterClient"]


@runtime_checkable
class ClusterClient(Protocol):
    def get(self, kind: str, name: str, namespace: str = "") -> dict[str, Any]: ...

    def list(self, kind: str, namespace: Optional[str] = None, label_selector: Optional[dict[str, str]] = None,
             copy: bool = True) -> tuple[list[dict[str, Any]], str]: ...

    def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    def update(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    def update_status(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    def bind(self, name: str, namespace: str, node: str, annotations: Optional[dict[str, str]] = None) -> dict[str, Any]: ...

    def delete(self, kind: str, name: str, namespace: str = "", resource_version: Optional[str] = None) -> dict[str, Any]: ...

    def watch(self, since: str | int = 0, kinds: Optional[set[str]] = None) -> Iterator[WatchEvent]: ...
