"""Exit codes CI reads (fixed by the design)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    VALID = 0
    INVALID = 1
    UNKNOWN = 2
    BAD_ARGUMENTS = 254
    HARNESS_FAILED = 255
