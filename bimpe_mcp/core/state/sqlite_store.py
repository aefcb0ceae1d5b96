"""The state in SQLite: a file every process on one machine shares (WAL, one transaction per decision), or the
process's own memory (`memory://`). Opened on first use, so that a server that never places a call never touches it.

Another process may hold the file's write lock; SQLite then waits for it (up to the busy timeout) in the thread that
asked. A file's statements therefore run in a worker thread, one at a time, and the event loop goes on serving; the
memory database is this process's alone, and its statements run where they are asked."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from bimpe_mcp.core.state import (
    DAY,
    HELD_SECONDS,
    KEPT_SECONDS,
    RECENT_KEPT,
    Admission,
    Card,
    Press,
    Refusal,
    StateUnavailable,
    over_limit,
    paced,
)

T = TypeVar("T")
SCHEMA = """
CREATE TABLE IF NOT EXISTS dials(agent TEXT, key TEXT, kind TEXT, at REAL, fingerprint TEXT, PRIMARY KEY(agent, key));
CREATE INDEX IF NOT EXISTS dials_by_kind ON dials(kind, at);
CREATE TABLE IF NOT EXISTS spent(confirmation TEXT PRIMARY KEY, key TEXT, at REAL);
CREATE TABLE IF NOT EXISTS results(agent TEXT, key TEXT, fingerprint TEXT, body TEXT, at REAL, PRIMARY KEY(agent, key));
CREATE TABLE IF NOT EXISTS held(fingerprint TEXT PRIMARY KEY, key TEXT, at REAL);
CREATE TABLE IF NOT EXISTS audit(id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT);
CREATE TABLE IF NOT EXISTS secrets(name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS tenant_audit(id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT, entry TEXT);
CREATE INDEX IF NOT EXISTS tenant_audit_by_tenant ON tenant_audit(tenant, id);
CREATE TABLE IF NOT EXISTS cards(fingerprint TEXT PRIMARY KEY, nonce TEXT UNIQUE, status TEXT, body TEXT, until REAL);
CREATE TABLE IF NOT EXISTS verdicts(digest TEXT PRIMARY KEY, accepted INTEGER, until REAL);
CREATE TABLE IF NOT EXISTS paces(name TEXT PRIMARY KEY, due REAL);
CREATE INDEX IF NOT EXISTS paces_by_due ON paces(due);
"""


def _card(row: tuple[object, ...]) -> Card:
    fingerprint, nonce, status, body, until = row
    return Card(str(fingerprint), str(nonce), str(status), str(body), float(str(until)))


class SqliteStore:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.where = f"sqlite:///{path}" if path else "memory://"
        self._db: sqlite3.Connection | None = None
        # Made on first use, on the event loop that uses the store.
        self._one_at_a_time: anyio.CapacityLimiter | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            if self.path is None:
                db = sqlite3.connect(":memory:", isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self._db = db
        return self._db

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """`work` in one transaction; a file's in a worker thread, one statement at a time (see the module)."""
        if self.path is None:
            return self._transaction(work, write)
        if self._one_at_a_time is None:
            self._one_at_a_time = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(self._transaction, work, write, limiter=self._one_at_a_time)

    def _transaction(self, work: Callable[[sqlite3.Connection], T], write: bool) -> T:
        """`work` in one transaction (IMMEDIATE when it writes: the write lock is taken before anything is read)."""
        try:
            db = self._connect()
            if not write:
                return work(db)
            db.execute("BEGIN IMMEDIATE")
            try:
                done = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return done
        except (sqlite3.Error, OSError) as exc:
            raise StateUnavailable(f"{self.where}: {type(exc).__name__}: {exc}") from None

    async def admit(self, admission: Admission) -> Refusal | None:
        a = admission

        def work(db: sqlite3.Connection) -> Refusal | None:
            if a.confirmation is not None:
                row = db.execute("SELECT key FROM spent WHERE confirmation = ?", (a.confirmation,)).fetchone()
                if row is not None and row[0] != a.key:
                    return ("spent", str(row[0]))
            db.execute("DELETE FROM dials WHERE at <= ?", (a.now - DAY,))
            counted = db.execute("SELECT 1 FROM dials WHERE agent = ? AND key = ?", (a.agent, a.key)).fetchone()
            if counted is None:
                rows = db.execute("SELECT at FROM dials WHERE kind = ?", (a.kind,)).fetchall()
                window = over_limit([float(r[0]) for r in rows], a.now, a.limits)
                if window is not None:
                    return ("budget", window)
                db.execute("INSERT INTO dials VALUES (?, ?, ?, ?, ?)", (a.agent, a.key, a.kind, a.now, a.fingerprint))
            else:
                db.execute(
                    "UPDATE dials SET fingerprint = ? WHERE agent = ? AND key = ?", (a.fingerprint, a.agent, a.key)
                )
            if a.confirmation is not None:
                db.execute("INSERT OR IGNORE INTO spent VALUES (?, ?, ?)", (a.confirmation, a.key, a.now))
            return None

        return await self._run(work, write=True)

    async def times(self, kind: str, since: float) -> list[float]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT at FROM dials WHERE kind = ? AND at > ? ORDER BY at", (kind, since)
            ).fetchall()
        )
        return [float(r[0]) for r in rows]

    async def dialled(self, agent: str, key: str) -> str | None:
        row = await self._run(
            lambda db: db.execute("SELECT fingerprint FROM dials WHERE agent = ? AND key = ?", (agent, key)).fetchone()
        )
        return None if row is None else str(row[0])

    async def spent(self, confirmation: str) -> str | None:
        row = await self._run(
            lambda db: db.execute("SELECT key FROM spent WHERE confirmation = ?", (confirmation,)).fetchone()
        )
        return None if row is None else str(row[0])

    async def secret(self, fresh: str) -> str:
        def work(db: sqlite3.Connection) -> str:
            db.execute("INSERT OR IGNORE INTO secrets VALUES ('confirm', ?)", (fresh,))
            return str(db.execute("SELECT value FROM secrets WHERE name = 'confirm'").fetchone()[0])

        return await self._run(work, write=True)

    async def spend(self, confirmation: str, key: str, now: float) -> str:
        def work(db: sqlite3.Connection) -> str:
            db.execute("DELETE FROM spent WHERE at <= ?", (now - DAY,))
            db.execute("INSERT OR IGNORE INTO spent VALUES (?, ?, ?)", (confirmation, key, now))
            return str(db.execute("SELECT key FROM spent WHERE confirmation = ?", (confirmation,)).fetchone()[0])

        return await self._run(work, write=True)

    async def result(self, agent: str, key: str) -> tuple[str, str] | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT fingerprint, body FROM results WHERE agent = ? AND key = ?", (agent, key)
            ).fetchone()
        )
        return None if row is None else (str(row[0]), str(row[1]))

    async def keep(self, agent: str, key: str, fingerprint: str, body: str, now: float) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM results WHERE at <= ?", (now - KEPT_SECONDS,))
            db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?)", (agent, key, fingerprint, body, now))

        await self._run(work, write=True)

    async def held(self, fingerprint: str, now: float) -> str | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT key FROM held WHERE fingerprint = ? AND at > ?", (fingerprint, now - HELD_SECONDS)
            ).fetchone()
        )
        return None if row is None else str(row[0])

    async def hold(self, fingerprint: str, key: str, now: float) -> None:
        await self._run(
            lambda db: db.execute("INSERT OR REPLACE INTO held VALUES (?, ?, ?)", (fingerprint, key, now)), write=True
        )

    async def release(self, fingerprint: str, key: str) -> None:
        await self._run(
            lambda db: db.execute("DELETE FROM held WHERE fingerprint = ? AND key = ?", (fingerprint, key)), write=True
        )

    async def card(self, fingerprint: str, now: float) -> Card | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT * FROM cards WHERE fingerprint = ? AND until > ?", (fingerprint, now)
            ).fetchone()
        )
        return None if row is None else _card(row)

    async def pend(self, card: Card, now: float) -> Card:
        def work(db: sqlite3.Connection) -> Card:
            db.execute("DELETE FROM cards WHERE until <= ?", (now,))
            row = db.execute("SELECT * FROM cards WHERE fingerprint = ?", (card.fingerprint,)).fetchone()
            if row is not None:
                return _card(row)
            c = card
            db.execute("INSERT INTO cards VALUES (?, ?, ?, ?, ?)", (c.fingerprint, c.nonce, c.status, c.body, c.until))
            return card

        return await self._run(work, write=True)

    async def press(self, nonce: str, status: str, now: float, until: float) -> Press | None:
        def work(db: sqlite3.Connection) -> Press | None:
            row = db.execute("SELECT * FROM cards WHERE nonce = ?", (nonce,)).fetchone()
            if row is None:
                return None
            card = _card(row)
            if card.status != "pending":
                return card.status, card
            if card.until <= now:
                return "expired", card
            db.execute("UPDATE cards SET status = ?, until = ? WHERE nonce = ?", (status, until, nonce))
            return "pressed", replace(card, status=status, until=until)

        return await self._run(work, write=True)

    async def settle(self, fingerprint: str, nonce: str) -> None:
        await self._run(
            lambda db: db.execute("DELETE FROM cards WHERE fingerprint = ? AND nonce = ?", (fingerprint, nonce)),
            write=True,
        )

    async def remember(self, entry: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO audit(entry) VALUES (?)", (entry,))
            db.execute("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?", (RECENT_KEPT,))

        await self._run(work, write=True)

    async def recent(self) -> list[str]:
        rows = await self._run(lambda db: db.execute("SELECT entry FROM audit ORDER BY id").fetchall())
        return [str(r[0]) for r in rows]

    async def remember_for(self, tenant: str, entry: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO tenant_audit(tenant, entry) VALUES (?, ?)", (tenant, entry))
            db.execute(
                "DELETE FROM tenant_audit WHERE tenant = ? AND id NOT IN "
                "(SELECT id FROM tenant_audit WHERE tenant = ? ORDER BY id DESC LIMIT ?)",
                (tenant, tenant, RECENT_KEPT),
            )

        await self._run(work, write=True)

    async def recent_for(self, tenant: str) -> list[str]:
        rows = await self._run(
            lambda db: db.execute("SELECT entry FROM tenant_audit WHERE tenant = ? ORDER BY id", (tenant,)).fetchall()
        )
        return [str(r[0]) for r in rows]

    async def verdict(self, digest: str, now: float) -> bool | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT accepted FROM verdicts WHERE digest = ? AND until > ?", (digest, now)
            ).fetchone()
        )
        return None if row is None else bool(row[0])

    async def judge(self, digest: str, accepted: bool, now: float, seconds: float) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM verdicts WHERE until <= ?", (now,))
            db.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?)", (digest, int(accepted), now + seconds))

        await self._run(work, write=True)

    async def pace(self, name: str, now: float, interval: float, span: float) -> float:
        def work(db: sqlite3.Connection) -> float:
            row = db.execute("SELECT due FROM paces WHERE name = ?", (name,)).fetchone()
            due, wait = paced(None if row is None else float(row[0]), now, interval, span)
            if wait == 0.0:
                db.execute("DELETE FROM paces WHERE due <= ?", (now,))
                db.execute("INSERT OR REPLACE INTO paces VALUES (?, ?)", (name, due))
            return wait

        return await self._run(work, write=True)

    async def aclose(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            if self._one_at_a_time is None:
                db.close()
            else:
                await anyio.to_thread.run_sync(db.close, limiter=self._one_at_a_time)
