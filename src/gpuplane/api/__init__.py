"""Typed Kubernetes objects, YAML/JSON in and out, and validation."""
