"""Anti-entropy convergence: with the faults healed and no client traffic at all (so no
read repair and no hand-off of new writes), do the replicas of every key come to agree on
their own, within a bound?

Read repair and hand-off mend most divergence while a run goes on, so a store whose
anti-entropy never reconciles still passes the other checkers. The runner's
``anti-entropy`` phase takes their help away: after the settle and before the final reads
it reads each replica's *own* copy of every final key (``f`` ``read-local``, process
``anti-entropy``, a ``round`` number on each sample), round after round, until every key's
replicas agree or ``--anti-entropy-bound`` seconds pass. It opens with a ``start`` op
whose ``value`` holds the bound.

A key's replicas agree in a round when every sample of the round for it is ``ok`` and they
hold the same set of versions. The phase converged at the first round in which every key
agreed; ``time`` is that round's last sample minus the phase's start.
``diverged_at_start`` counts the keys that disagreed in round 0: the work anti-entropy had
of its own (0 means the run never tested it).

Verdict: true when the replicas converged; false when the last round still disagreed
(the runner stops only at agreement or the bound, so that is "not within the bound");
``"not measured"`` without samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.calls import calls
from checkers.convergence import FAILED, state
from checkers.history import ANTI_ENTROPY, Op
from checkers.result import Result, listed, not_measured
from checkers.stats import NS


def disagreeing(samples: Sequence[Op]) -> set[object]:
    """The keys whose samples (one round's) do not all agree."""
    states: dict[object, set[object]] = {}
    for op in samples:
        states.setdefault(op.get("key"), set()).add(state(op))
    return {k for k, s in states.items() if len(s) > 1 or FAILED in s}


@dataclass(frozen=True)
class AntiEntropyConvergence:
    name: str = "anti_entropy_convergence"

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        ops = [op for op in calls(history).observed if op["process"] == ANTI_ENTROPY]
        start = next((op for op in ops if op.get("f") == "start"), None)
        samples = [op for op in ops if op.get("f") == "read-local"]
        if not samples:
            return not_measured(self.name, "anti-entropy phase")
        began = start["time"] if start is not None else samples[0]["time"]
        rounds: dict[int, list[Op]] = {}
        for op in samples:
            rounds.setdefault(int(op.get("round", 0)), []).append(op)
        order = sorted(rounds)
        at_start = disagreeing(rounds[order[0]])
        converged_round: int | None = None
        last: set[object] = set()
        for r in order:
            last = disagreeing(rounds[r])
            if not last:
                converged_round = r
                break
        converged = converged_round is not None
        details: dict[str, Any] = {
            "bound": (start.get("value") or {}).get("bound") if start is not None else None,
            "keys": len({op.get("key") for op in samples}),
            "rounds": len(order) if not converged else order.index(converged_round) + 1,
            "samples": len(samples),
            "converged": converged,
            "time": (max(op["time"] for op in rounds[converged_round]) - began) * NS
            if converged_round is not None
            else None,
            "diverged_at_start": len(at_start),
            **listed("diverged", [] if converged else sorted(last, key=str)),
        }
        return Result(self.name, converged, details)
