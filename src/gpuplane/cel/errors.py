"""Errors of the device-selector CEL environment. ``str(e)`` is a user-facing message."""

from __future__ import annotations


class CelError(Exception):
    """Base class of all errors raised by :mod:`gpuplane.cel`."""


class CelCompileError(CelError):
    """The expression is invalid (syntax, types, too long, too complex)."""


class CelRuntimeError(CelError):
    """Evaluating a valid expression against one device failed."""
