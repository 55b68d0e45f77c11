"""The simulator: a whole cluster of real ``dynamo.node.Node`` objects in one process, on a
virtual clock and an in-memory network, driven by one seed (``docs/simulation.md``).

Layers, bottom up: ``loop`` (virtual time) → ``disk`` (storage a crash can cut short) and
``network`` (delivery, delay, loss, duplication, partitions) → ``cluster`` (nodes, crashes,
restarts, wipes, joins, leaves) → ``schedule`` (what happens, from a seed) → ``run`` (one
schedule played and its history recorded) → ``invariants`` → ``mutants`` (broken nodes
the invariants must catch) → ``explore`` (many seeds, shrinking, the replay command)."""
