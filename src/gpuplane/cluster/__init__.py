"""A cluster the scheduler runs on: the embedded store, the client interface, the scheduler loop."""
from .client import ClusterClient
from .store import AlreadyExists, Conflict, Expired, Invalid, NotFound, ObjectStore, StoreError, WatchEvent

__all__ = ["ClusterClient", "ObjectStore", "StoreError", "NotFound", "AlreadyExists", "Conflict", "Invalid",
           "Expired", "WatchEvent"]
