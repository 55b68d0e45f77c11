"""A mutant node for the power-loss proof: SQLite ``synchronous=OFF``, so a put is acked once
its transaction has COMMITted to the kernel, but nothing is ever fsynced. ``kill -9`` cannot
tell it from the real node (the kernel keeps what it was handed); a power loss can.

    python bench/sync_off_node.py node --name n1 --listen … (the options of ``dynamo node``)
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynamo import storage
from dynamo.cli import main


def _connect_unsynced(self: storage.SqliteStorage) -> sqlite3.Connection:
    db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    return db


storage.SqliteStorage._connect = _connect_unsynced  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
