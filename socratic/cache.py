"""On-disk response / embedding cache in SQLite, keyed by a hash of the canonical request.

Private by default: the cache folder is created 0700 and the database 0600 (prompts and answers
are the user's data).

The database uses WAL mode and a busy timeout, so several processes (parallel `socratic run`
calls, Ray workers) can share it. A process that uses the cache must not open and close the
database files other than through SQLite (e.g. ``Path.read_bytes()``): closing any descriptor of
a file drops all of that process's POSIX locks on it, and the other processes then reset the
shared WAL index under it ("disk I/O error"; SQLite's "How To Corrupt" page, section 2.2).
Credentials never enter a key or a value: :func:`request_key` drops any field whose name looks
like a secret before hashing.

Location: ``--cache-dir`` flag (through the graph's :class:`~socratic.context.BuildContext`),
else ``$SOCRATIC_CACHE_DIR``, else the user's cache directory
(``platformdirs.user_cache_dir("socratic")``). ``SOCRATIC_NO_CACHE=1`` or ``--no-cache``
disables it. ``{host}`` in the folder becomes the machine's host name (one file per machine on
shared storage; see docs/scaling.md for what is safe on a cluster).

Example:
    >>> import tempfile
    >>> cache = Cache(tempfile.mkdtemp())
    >>> key = request_key({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    >>> cache.put("llm", key, {"text": "hello"})
    >>> cache.get("llm", key)
    {'text': 'hello'}
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

# key names that carry credentials (never "max_tokens" and the like)
_SECRET_KEY = re.compile(
    r"^((.*[_-])?(api[_-]?key|apikey|password|passwd|secret|token|bearer|cookie)|"
    r"authorization|headers|default_headers|extra_headers)$",
    re.IGNORECASE,
)


def default_cache_dir() -> Path:
    """``$SOCRATIC_CACHE_DIR`` or the platform's user cache directory for socratic."""
    env = os.environ.get("SOCRATIC_CACHE_DIR") or None
    if env:
        return host_path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("socratic"))


def host_path(directory: str | os.PathLike[str]) -> Path:
    """``directory`` with ``{host}`` replaced by this machine's host name: one cache file per
    machine on shared storage (SQLite's WAL mode needs every writer of a file on one machine).

    Example:
        >>> import socket
        >>> host_path("/shared/cache/{host}").name == socket.gethostname()
        True
    """
    text = os.fspath(directory)
    if "{host}" in text:
        import socket

        text = text.replace("{host}", socket.gethostname())
    return Path(text).expanduser()


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_secrets(v)
            for k, v in value.items()
            if not _SECRET_KEY.match(str(k))
        }
    if isinstance(value, (list, tuple)):
        return [_strip_secrets(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, secrets removed."""
    return json.dumps(_strip_secrets(value), sort_keys=True, separators=(",", ":"), default=str)


def request_key(request: Any) -> str:
    """SHA-256 of the canonical request (model, messages, parameters, sample index)."""
    return hashlib.sha256(canonical_json(request).encode()).hexdigest()


def private_dir(path: Path) -> Path:
    """Create a folder readable by its owner only (0700); an existing one is left as it is."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    return path


def open_private(path: str | os.PathLike[str], mode: str = "a") -> Any:
    """Open a text file for writing, created readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC), 0o600)
    return os.fdopen(fd, mode, encoding="utf-8")


def _setup(conn: sqlite3.Connection) -> None:
    """WAL mode and the table. Switching the journal mode can answer "database is locked" at
    once, without waiting, while another process sets up the same file: retry with a backoff."""
    for attempt in range(60):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS entries ("
                " namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                " created REAL NOT NULL, PRIMARY KEY (namespace, key))"
            )
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == 59:
                raise
            time.sleep(min(0.5, 0.01 * (attempt + 1)))


class Cache:
    """A SQLite key/value cache with namespaces (``llm``, ``text-embedding`` ...).

    Example:
        >>> import tempfile
        >>> c = Cache(tempfile.mkdtemp())
        >>> c.get("llm", "missing") is None
        True
        >>> c.stats()["entries"]
        0
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        env = os.environ.get("SOCRATIC_CACHE_DIR") or None
        self._given = os.fspath(directory) if directory is not None else env
        self.directory = host_path(directory) if directory is not None else default_cache_dir()
        self.path = self.directory / "cache.sqlite"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._broken = False

    def __reduce__(self) -> tuple[Any, ...]:
        """A cache travels (to Ray workers) as its folder as given: ``{host}`` in it is read
        again on the worker's machine, and each process opens its own connection."""
        return (Cache, (self._given if self._given is not None else os.fspath(self.directory),))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) != os.getpid():
            conn = None  # a forked child never uses its parent's connection
        if conn is None:
            private_dir(self.directory)
            if not self.path.exists():  # SQLite gives its -wal / -shm files the same mode
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            _setup(conn)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _io(self, work: Any, fallback: Any) -> Any:
        """Run ``work(connection)``; on an I/O error of the database file, reopen once, and if it
        persists, go on without the cache (a warning, once): a cache never fails a row."""
        if self._broken:
            return fallback
        for attempt in range(2):
            try:
                return work(self._conn())
            except sqlite3.DatabaseError as exc:
                if not any(m in str(exc) for m in ("disk I/O", "malformed", "not a database")):
                    raise
                self.close()
                if attempt == 1:
                    self._broken = True
                    import warnings

                    warnings.warn(f"response cache {self.path}: {exc}; going on without it", stacklevel=3)
        return fallback

    def get(self, namespace: str, key: str) -> Any | None:
        row = self._io(lambda conn: conn.execute(
            "SELECT value FROM entries WHERE namespace=? AND key=?", (namespace, key)
        ).fetchone(), None)
        return None if row is None else json.loads(row[0])

    def get_many(self, namespace: str, keys: list[str]) -> dict[str, Any]:
        """Look up many keys in one query; returns only the hits."""
        return self._io(lambda conn: self._get_many(conn, namespace, keys), {})

    def _get_many(self, conn: sqlite3.Connection, namespace: str, keys: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, value FROM entries WHERE namespace=? AND key IN ({marks})",
                (namespace, *chunk),
            ).fetchall()
            out.update({k: json.loads(v) for k, v in rows})
        return out

    def put(self, namespace: str, key: str, value: Any) -> None:
        self.put_many(namespace, {key: value})

    def put_many(self, namespace: str, items: dict[str, Any]) -> None:
        now = time.time()
        rows = [(namespace, k, json.dumps(v), now) for k, v in items.items()]
        self._io(lambda conn: self._put_rows(conn, rows), None)

    @staticmethod
    def _put_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # no transaction left to roll back (the write itself failed)
            raise

    def stats(self) -> dict[str, Any]:
        """Entries per namespace, total entries and the file size in bytes."""
        if not self.path.exists():
            return {"path": str(self.path), "entries": 0, "namespaces": {}, "bytes": 0}
        rows = self._conn().execute(
            "SELECT namespace, COUNT(*) FROM entries GROUP BY namespace"
        ).fetchall()
        size = sum(
            p.stat().st_size
            for p in self.directory.glob("cache.sqlite*")
            if p.is_file()
        )
        return {
            "path": str(self.path),
            "entries": sum(n for _, n in rows),
            "namespaces": dict(rows),
            "bytes": size,
        }

    def clear(self, namespace: str | None = None) -> int:
        """Delete all entries (or one namespace's); returns how many were removed."""
        if not self.path.exists():
            return 0
        conn = self._conn()
        if namespace is None:
            n = conn.execute("DELETE FROM entries").rowcount
        else:
            n = conn.execute("DELETE FROM entries WHERE namespace=?", (namespace,)).rowcount
        conn.execute("VACUUM")
        return n

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


_default: Cache | None = None
_default_lock = threading.Lock()


def get_cache() -> Cache | None:
    """The default cache (``$SOCRATIC_CACHE_DIR`` or the user cache directory), or ``None`` when
    ``SOCRATIC_NO_CACHE`` is set. Graphs choose their cache explicitly through
    :class:`socratic.context.BuildContext`; this is what they get by default."""
    global _default
    if os.environ.get("SOCRATIC_NO_CACHE", "") not in ("", "0"):
        return None
    with _default_lock:
        if _default is None or _default.directory != default_cache_dir():
            _default = Cache()
        return _default
