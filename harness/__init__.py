"""The harness: deploys a system under test, drives workloads while nemeses inject faults,
records the history, runs the checkers and writes reports.

Leans on everything: ``dynamo.client`` through ``workloads``, ``nemesis`` for faults,
``checkers`` for verdicts. Nothing below it imports the harness, except ``nemesis``, which
uses ``harness.remote`` to run commands on nodes.
"""

__version__ = "0.1.0"
