"""Errors for bad input: whole-input problems and per-field validation errors.

``InputError`` is what every command catches to exit with status 2 and print the message
(never a traceback). ``ValidationFailed`` is the subclass raised when an object decoded but
failed validation; it keeps the individual :class:`FieldError` entries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One apiserver-style field error: ``Kind/ns/name: path: message``.

    ``message`` is the part after the path, written as the apiserver does, for example
    ``Invalid value: 0: must be greater than zero`` or ``Required value``.
    """

    kind: str
    namespace: str
    name: str
    path: str
    message: str

    @property
    def object_ref(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def __str__(self) -> str:
        if self.path:
            return f"{self.object_ref}: {self.path}: {self.message}"
        return f"{self.object_ref}: {self.message}"


class InputError(Exception):
    """A problem with the input as a whole (unreadable file, bad YAML, not an object...).

    ``str()`` is the message for the user.
    """


class ValidationFailed(InputError):
    """One or more objects failed validation; ``errors`` lists every field error."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
