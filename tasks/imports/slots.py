"""A cluster-wide limit on imports running at once into one database.

Each running import holds one of ``limit`` PostgreSQL advisory locks (a
counting semaphore every worker shares through the database). The locks are
held by the import's own session, so a worker that dies, even by SIGKILL,
frees its slot when its connection goes. An import that finds no free slot is
told how many run; it hands its message back to wait rather than hold a
worker slot.
"""
from __future__ import annotations

LOCK_CLASS = 0x4A53_0001  # advisory lock class id of import slots


def take(conn, limit: int) -> int | None:
    """Take a free slot (0..limit-1) for this session, or None when all are held."""
    for slot in range(limit):
        if conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, slot)).fetchone()[0]:
            return slot
    return None


def release(conn, slot: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, slot))


def running(conn) -> int:
    """How many import slots are held in this database right now."""
    return conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
        "AND granted AND database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())", (LOCK_CLASS,)).fetchone()[0]
