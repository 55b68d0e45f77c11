"""Nemeses: faults with ``setup / invoke(op) / teardown``; teardown heals all they did.

Runs commands on nodes through ``harness.remote`` (the one SSH path) and nothing else.
"""
