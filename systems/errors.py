"""How an adapter's client says what a failed call did: certainly nothing, or unknown.

``Definite`` is a ``fail`` in the history (the request cannot have taken effect: the
connection was refused before anything was sent, or the store said no); ``Indefinite`` is
an ``info`` (it may have: a timeout or a reset after the request went out).
"""

from __future__ import annotations


class CallError(Exception):
    definite: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)


class Definite(CallError):
    definite = True


class Indefinite(CallError):
    definite = False


def describe(e: BaseException) -> str:
    """How the history names a failed call's error."""
    if isinstance(e, CallError):
        return str(e)
    if isinstance(e, TimeoutError):
        return "timeout"
    return f"{type(e).__name__}: {e}"
