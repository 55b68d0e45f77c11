"""Systems by name: the ``dynamo_harness.systems`` entry-point group, and their options.

An installed package adds a system by declaring, in its ``pyproject.toml``::

    [project.entry-points."dynamo_harness.systems"]
    mystore = "mystore_adapter:configure"

``configure(test_options, system_options)`` returns the ``System``; it validates the
``--system-option KEY=VALUE`` pairs it is given and touches no host. Our node is built in
as ``dynamo`` as well, so a checkout whose package metadata predates the group still runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from systems.base import System

GROUP = "dynamo_harness.systems"
BUILTIN = {"dynamo": "systems.dynamo:configure"}

Factory = Callable[[Any, Mapping[str, str]], System]


def _targets() -> dict[str, str]:
    found = dict(BUILTIN)
    for ep in importlib.metadata.entry_points(group=GROUP):
        found[ep.name] = ep.value
    return found


def names() -> list[str]:
    return sorted(_targets())


def factory(name: str) -> Factory:
    """The ``configure`` of system ``name``; ``ValueError`` when no package provides it."""
    target = _targets().get(name)
    if target is None:
        raise ValueError(
            f"unknown system {name!r}; installed: {', '.join(names())} "
            f"(a package adds one under the entry-point group {GROUP!r})"
        )
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def parse_pairs(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings to a dict; ``ValueError`` on one without ``=``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--system-option takes KEY=VALUE, not {item!r}")
        out[key.strip().replace("-", "_")] = value
    return out


def configure(name: str, test: Any, options: Sequence[str]) -> System:
    """System ``name`` set up for this test; ``ValueError`` on anything it refuses."""
    return factory(name)(test, parse_pairs(options))


def dataclass_from(cls: type, given: Mapping[str, str], system: str) -> Any:
    """A dataclass of options from ``KEY=VALUE`` strings, each converted to its field's type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, text in given.items():
        f = fields.get(key)
        if f is None:
            raise ValueError(
                f"system {system} has no option {key!r}; it takes {', '.join(sorted(fields))}"
            )
        kind = str(f.type)
        try:
            if kind.startswith("bool"):
                if text.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                    raise ValueError("not a boolean")
                values[key] = text.lower() in ("1", "true", "yes", "on")
            elif kind.startswith("int"):
                values[key] = int(text)
            elif kind.startswith("float"):
                values[key] = float(text)
            else:
                values[key] = text
        except ValueError as e:
            raise ValueError(f"system option {key}={text!r}: {e}") from e
    return cls(**values)
