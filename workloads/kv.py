"""YCSB-A-like key-value load: 50/50 reads and updates on zipfian keys, for latency and rate."""

from __future__ import annotations

from workloads.register import RegisterWorkload


class KvWorkload(RegisterWorkload):
    name = "kv"
    prefix = "k"
    value_prefix = "v"

    def __init__(self, keys: int = 1000) -> None:
        super().__init__(keys, read=0.5, blind=0.25, context_write=0.25, zipfian=True)
