"""Fixtures of the checker tests: a builder for hand-written histories (times in seconds).

Handed out as the ``crafted`` fixture because the suite imports test modules in
importlib mode, where a test cannot import a sibling module.
"""

from __future__ import annotations

from typing import Any

import pytest

from checkers.history import History

S = 1_000_000_000


class Crafted:
    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []

    def op(self, type: str, process: Any, f: str, at: float, **fields: Any) -> dict[str, Any]:
        time = round(at * S)
        assert not self.ops or time >= self.ops[-1]["time"], "time must not go back"
        op = {"index": len(self.ops), "type": type, "process": process, "time": time, "f": f}
        op.update(fields)
        if type in ("fail", "info") and process not in ("nemesis", "convergence"):
            op.setdefault("error", "timeout" if type == "info" else "unavailable")
        self.ops.append(op)
        return op

    def invoke(self, process: int, f: str, at: float, key: str, value: Any = None, **fields: Any):
        return self.op("invoke", process, f, at, key=key, value=value, **fields)

    def call(
        self,
        process: int,
        f: str,
        key: str,
        value: Any = None,
        *,
        at: float,
        took: float = 0.001,
        outcome: str = "ok",
        result: Any = None,
        node: str = "n1",
        **fields: Any,
    ) -> dict[str, Any]:
        """An invoke and its completion, back to back; returns the completion."""
        self.invoke(process, f, at, key, value, node=node, **fields)
        done_value = result if f == "read" else value
        done_fields = dict(fields)
        if f == "read" and outcome == "ok" and "context" not in fields:
            done_fields["context"] = result
        return self.op(
            outcome, process, f, at + took, key=key, value=done_value, node=node, **done_fields
        )

    def nemesis(self, f: str, value: Any, at: float) -> None:
        self.op("invoke", "nemesis", f, at, value=value)
        self.op("info", "nemesis", f, at, value=value)

    def sample(self, key: str, node: str, value: list[Any], at: float, type: str = "ok") -> None:
        self.op(type, "convergence", "read-local", at, key=key, node=node, value=value)

    def counters(self, value: dict[str, Any], at: float) -> None:
        self.op("ok", "harness", "node-counters", at, value=value)

    def history(self) -> History:
        return History(self.ops)


@pytest.fixture
def crafted() -> Crafted:
    return Crafted()


@pytest.fixture
def make_run(tmp_path):
    """``make_run(workload, lose_at=…) -> (run dir, ids the model store lost)``."""
    import json

    from checkers.synth import Spec, generate

    def make(workload: str = "register", **spec: Any) -> Any:
        synthetic = generate(Spec(workload=workload, ops=spec.pop("ops", 3000), **spec))
        run = tmp_path / f"{workload}-{len(list(tmp_path.iterdir()))}"
        run.mkdir()
        with open(run / "history.jsonl", "w", encoding="utf-8") as f:
            for op in synthetic.history:
                f.write(json.dumps(op) + "\n")
        (run / "test.json").write_text(json.dumps(synthetic.test), encoding="utf-8")
        return run, synthetic.lost

    return make
