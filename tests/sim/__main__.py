"""Replay or explore from the command line (run from the repository's root):

python -m tests.sim --seed 41                    replay seed 41, print what it broke
python -m tests.sim --seed 41 --schedule '{...}' replay a (shrunk) schedule with seed 41
python -m tests.sim --seeds 0:1000               explore seeds 0..999, shrink a failure
python -m tests.sim --seed 41 --mutant NAME      the same against a broken node
python -m tests.sim --seed 41 --history          also print the history, one op a line
"""

from __future__ import annotations

import argparse
import json
import sys

from tests.sim.explore import Failure, Tally, explore, shrink
from tests.sim.run import run
from tests.sim.schedule import Schedule, generate


def _seeds(text: str) -> range:
    low, sep, high = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"seeds are LOW:HIGH, not {text!r}")
    return range(int(low), int(high))


def main(argv: list[str] | None = None) -> int:
    from tests.sim.mutants import MUTANTS

    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--seed", type=int, help="replay this seed")
    which.add_argument("--seeds", type=_seeds, help="explore LOW:HIGH")
    parser.add_argument("--schedule", help="a schedule's JSON (as a failure prints it)")
    parser.add_argument("--mutant", choices=sorted(MUTANTS), help="run a broken node")
    parser.add_argument("--history", action="store_true", help="print the history")
    parser.add_argument("--no-shrink", action="store_true", help="do not shrink a failure")
    args = parser.parse_args(argv)
    mutant = MUTANTS[args.mutant] if args.mutant else None
    if args.seed is not None:
        schedule = Schedule.loads(args.schedule) if args.schedule else generate(args.seed)
        outcome = run(schedule, args.seed, mutant=mutant)
        if args.history:
            for op in outcome.history:
                print(json.dumps(op))
        print(schedule.describe())
        tally = Tally()
        tally.add(outcome)
        print(tally.summary())
        if outcome.ok:
            print(f"seed {args.seed}: every invariant held")
            return 0
        print(Failure(args.seed, outcome, mutant=args.mutant).report())
        return 1
    tally = Tally()
    failure = explore(args.seeds, mutant=mutant, tally=tally)
    print(tally.summary())
    if failure is None:
        print("every invariant held")
        return 0
    if not args.no_shrink:
        failure.shrunk = shrink(failure, mutant=mutant)
    print(failure.report())
    return 1


if __name__ == "__main__":
    sys.exit(main())
