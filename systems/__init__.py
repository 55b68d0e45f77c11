"""Adapters: each system under test the harness can deploy, fault and talk to.

One package per store (``systems.redis``, ``systems.etcd``), each deploying its daemons over
``harness.remote`` (the one SSH path) and carrying a small client of its own. They lean on the
harness's system seam and on their store's wire protocol; nothing in ``harness/`` names them.
"""
