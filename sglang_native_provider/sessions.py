"""Where the session ledger keeps its turns: in process (default), in SQLite, or in Redis.

A store is named by a URL (the ``session_store`` setting, default ``$SGLANG_NATIVE_SESSION_STORE`` or
``memory``): ``memory`` (bounded, least recently used sessions evicted), ``sqlite:///path/to/file.db`` (one
host, kept across processes, committed per turn) or ``redis://host:port/db`` (proxies with several workers
or hosts). Every store answers the same questions: which turns answered this history in this session,
which turns does a session have, which sessions are there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

__all__ = [
    "LedgerTurn",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "SessionStore",
    "StoreError",
    "UnknownSessionError",
    "default_store",
    "open_store",
]


class StoreError(RuntimeError):
    """The session store could not be read or written (unreachable server, unusable file)."""


class UnknownSessionError(KeyError):
    """No turn of this session is in the store."""

    def __str__(self) -> str:
        return f"no session {self.args[0]!r} in the session store"


@dataclass(frozen=True)
class LedgerTurn:
    """One generated choice, as the ledger keeps it."""

    session_id: str
    turn_id: str
    """SGLang's request id of the choice (``sglang_request_id``)."""
    history_key: str
    """Fingerprint of the conversation the turn answered (see ``ledger.history_key``)."""
    message: dict[str, Any]
    """What the model wrote: ``content``, ``reasoning``, ``tool_calls`` as ``[name, arguments]`` pairs."""
    fields: dict[str, Any]
    """The choice's ``provider_specific_fields``: exact prompt and sampled ids, logprobs, finish reason..."""
    continuation: str
    """How its prompt was built: ``exact`` (on the previous turn's tokens, from its metadata), ``ledger``
    (on the previous turn's tokens, found in the ledger), ``rerendered`` (a conversation whose earlier turn
    could not be continued) or ``new`` (a conversation without an earlier assistant turn)."""
    parent_id: str | None = None
    """The turn it continues (exact/ledger) or departs from (rerendered)."""
    first_difference: int | None = None
    """For a re-rendered turn: where its prompt first differs from the parent's tokens."""
    created: float = 0.0
    recorded_by: str = ""
    """``host:pid`` of the process that recorded the turn (proxies run several workers)."""
    user_api_key_hash: str | None = None
    """The LiteLLM proxy key that made the turn (its hash, as the proxy logs it); None outside a proxy. Only
    turns of the same key are continued, and the proxy's export serves a key only its own turns."""
    signals: dict[str, Any] | None = None
    """Rollout signals kept apart from ``fields``, in their compact encoding (``routed_experts``: dtype,
    shape, start, base64 data; see ``rollout_signals.py``); None when the turn has none (and in older records)."""
    sequence: int = field(default=0, compare=False)
    """Order of recording within the store (set by the store)."""

    def metadata(self) -> dict[str, Any]:
        """The choice's ``provider_specific_fields`` as returned: ``fields`` with the rollout signals."""
        return {**self.fields, **(self.signals or {})}

    def to_json(self) -> str:
        """The record as stored (without its sequence number, which the store assigns)."""
        record = {name: getattr(self, name) for name in _RECORD_FIELDS}  # shallow: no copy of the token lists
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, sequence: int | None = None) -> LedgerTurn:
        record = json.loads(text)
        if sequence is not None:
            record["sequence"] = sequence
        return cls(**record)


_RECORD_FIELDS = tuple(field.name for field in fields(LedgerTurn) if field.name != "sequence")


class SessionStore(Protocol):
    """What the ledger needs of a store."""

    url: str
    blocking: bool
    """Whether calls do I/O (the async path then runs them in a thread)."""

    def add(self, turn: LedgerTurn) -> None: ...

    def answers(self, session_id: str, history_key: str) -> list[LedgerTurn]:
        """The turns of the session that answered this history, oldest first."""
        ...

    def turns(self, session_id: str) -> list[LedgerTurn]:
        """Every turn of the session, in recording order (raises UnknownSessionError)."""
        ...

    def recent(self, session_id: str, count: int) -> list[LedgerTurn]:
        """The session's last ``count`` turns, oldest first (empty for an unknown session)."""
        ...

    def sessions(self) -> list[str]:
        """The sessions in the store, oldest first."""
        ...


def _memory_budget() -> int:
    return int(os.environ.get("SGLANG_NATIVE_MEMORY_LEDGER_TOKENS", 4_000_000))


def _size(turn: LedgerTurn) -> int:
    """The token ids a turn holds (its prompt and its sampled ids), what its memory grows with, and its rollout
    signals' base64 text counted as one token id per 32 characters (a list's int costs about as much)."""
    signals = sum(len(signal.get("data", "")) for signal in (turn.signals or {}).values()) // 32
    return len(turn.fields.get("prompt_token_ids") or ()) + len(turn.fields.get("completion_token_ids") or ()) + signals


class MemoryStore:
    """Turns kept in this process, within a budget: the least recently used sessions are dropped beyond
    ``max_sessions`` or ``max_tokens`` token ids held (``$SGLANG_NATIVE_MEMORY_LEDGER_TOKENS``, default 4
    million, a few hundred MB at most), and a session keeps at most ``max_turns`` turns (its oldest dropped
    first, also when it alone holds more than ``max_tokens``)."""

    blocking = False

    def __init__(self, max_sessions: int = 10_000, max_turns: int = 1_000, max_tokens: int | None = None) -> None:
        self.url = "memory"
        self._max_sessions, self._max_turns = max_sessions, max_turns
        self._max_tokens = _memory_budget() if max_tokens is None else max_tokens
        self._sessions: OrderedDict[str, list[LedgerTurn]] = OrderedDict()
        self._answers: dict[tuple[str, str], list[LedgerTurn]] = {}
        self._lock = threading.Lock()
        self._sequence = 0
        self.tokens = 0
        """The token ids held now."""

    def add(self, turn: LedgerTurn) -> None:
        with self._lock:
            self._sequence += 1
            turn = _with_sequence(turn, self._sequence)
            turns = self._sessions.setdefault(turn.session_id, [])
            self._sessions.move_to_end(turn.session_id)
            turns.append(turn)
            self.tokens += _size(turn)
            self._answers.setdefault((turn.session_id, turn.history_key), []).append(turn)
            while len(self._sessions) > 1 and (
                len(self._sessions) > self._max_sessions or self.tokens > self._max_tokens
            ):
                for old in self._sessions.popitem(last=False)[1]:
                    self._forget(old)
            while len(turns) > 1 and (len(turns) > self._max_turns or self.tokens > self._max_tokens):
                self._forget(turns.pop(0))

    def _forget(self, turn: LedgerTurn) -> None:
        self.tokens -= _size(turn)
        key = (turn.session_id, turn.history_key)
        remaining = [other for other in self._answers.get(key, ()) if other is not turn]
        if remaining:
            self._answers[key] = remaining
        else:
            self._answers.pop(key, None)

    def answers(self, session_id: str, history_key: str) -> list[LedgerTurn]:
        with self._lock:
            if session_id in self._sessions:
                self._sessions.move_to_end(session_id)
            return list(self._answers.get((session_id, history_key), ()))

    def turns(self, session_id: str) -> list[LedgerTurn]:
        with self._lock:
            if session_id not in self._sessions:
                raise UnknownSessionError(session_id)
            return list(self._sessions[session_id])

    def recent(self, session_id: str, count: int) -> list[LedgerTurn]:
        with self._lock:
            return list(self._sessions.get(session_id, ())[-count:])

    def sessions(self) -> list[str]:
        with self._lock:
            return list(self._sessions)


def _with_sequence(turn: LedgerTurn, sequence: int) -> LedgerTurn:
    return replace(turn, sequence=sequence)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    history_key TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_history ON turns (session_id, history_key);
CREATE INDEX IF NOT EXISTS turns_by_session ON turns (session_id, sequence);
"""


class SQLiteStore:
    """Turns in an SQLite file: one host, several processes, kept after they exit. Each turn is committed
    when recorded (WAL journal), so a crash between two turns loses nothing."""

    blocking = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connection() as connection:
                connection.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"session store {self.url}: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    def _query(self, sql: str, *args: Any) -> list[tuple]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"session store {self.url}: {exc}") from None

    def add(self, turn: LedgerTurn) -> None:
        self._query(
            "INSERT INTO turns (session_id, history_key, record) VALUES (?, ?, ?)",
            turn.session_id,
            turn.history_key,
            turn.to_json(),
        )

    @staticmethod
    def _turns(rows: list[tuple]) -> list[LedgerTurn]:
        return [LedgerTurn.from_json(record, sequence) for sequence, record in rows]

    def answers(self, session_id: str, history_key: str) -> list[LedgerTurn]:
        rows = self._query(
            "SELECT sequence, record FROM turns WHERE session_id = ? AND history_key = ? ORDER BY sequence",
            session_id,
            history_key,
        )
        return self._turns(rows)

    def turns(self, session_id: str) -> list[LedgerTurn]:
        rows = self._query("SELECT sequence, record FROM turns WHERE session_id = ? ORDER BY sequence", session_id)
        if not rows:
            raise UnknownSessionError(session_id)
        return self._turns(rows)

    def recent(self, session_id: str, count: int) -> list[LedgerTurn]:
        rows = self._query(
            "SELECT sequence, record FROM turns WHERE session_id = ? ORDER BY sequence DESC LIMIT ?", session_id, count
        )
        return self._turns(rows[::-1])

    def sessions(self) -> list[str]:
        rows = self._query("SELECT session_id, MIN(sequence) AS first FROM turns GROUP BY session_id ORDER BY first")
        return [row[0] for row in rows]


class RedisStore:
    """Turns in Redis, shared by every process and host that names the same server (the LiteLLM proxy
    with several workers). Keys: ``<prefix>:turns:<session>`` (a list of records),
    ``<prefix>:answers:<session>:<history>`` (a list of positions in it) and ``<prefix>:sessions`` (a sorted
    set, by first turn)."""

    blocking = True

    def __init__(self, url: str, prefix: str = "sglang-native") -> None:
        try:
            import redis
        except ImportError:
            raise ValueError(
                "redis:// session stores need the 'redis' extra: pip install 'sglang-native-provider[redis]'"
            ) from None

        self.url = _without_password(url)
        self._prefix = prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self._errors = (redis.RedisError, OSError)
        self._add_script = self._redis.register_script(_REDIS_ADD)
        self._call(self._redis.ping)  # an unreachable server fails before anything is generated

    def _call(self, operation, *args: Any) -> Any:
        try:
            return operation(*args)
        except self._errors as exc:
            raise StoreError(f"session store {self.url}: {type(exc).__name__}: {exc}") from None

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def add(self, turn: LedgerTurn) -> None:
        keys = [
            self._key("turns", turn.session_id),
            self._key("answers", turn.session_id, turn.history_key),
            self._key("sessions"),
            self._key("sequence"),
        ]
        self._call(self._add_script, keys, [turn.to_json(), turn.session_id])

    def _records(self, session_id: str, positions: list[int] | None = None) -> list[LedgerTurn]:
        key = self._key("turns", session_id)
        if positions is None:
            records = self._call(self._redis.lrange, key, 0, -1)
        else:
            pipeline = self._redis.pipeline()
            for position in positions:
                pipeline.lindex(key, position)
            records = self._call(pipeline.execute)
        return [LedgerTurn.from_json(record) for record in records if record is not None]

    def answers(self, session_id: str, history_key: str) -> list[LedgerTurn]:
        positions = self._call(self._redis.lrange, self._key("answers", session_id, history_key), 0, -1)
        return self._records(session_id, [int(position) for position in positions]) if positions else []

    def turns(self, session_id: str) -> list[LedgerTurn]:
        turns = self._records(session_id)
        if not turns:
            raise UnknownSessionError(session_id)
        return turns

    def recent(self, session_id: str, count: int) -> list[LedgerTurn]:
        records = self._call(self._redis.lrange, self._key("turns", session_id), -count, -1)
        return [LedgerTurn.from_json(record) for record in records]

    def sessions(self) -> list[str]:
        return [name.decode() for name in self._call(self._redis.zrange, self._key("sessions"), 0, -1)]


# Appends a turn atomically: its sequence number (spliced into the JSON text, which is kept byte for byte:
# re-encoding it in Lua would round the logprobs), its record, its position under its history, the session.
_REDIS_ADD = """
local sequence = redis.call('INCR', KEYS[4])
local record = '{"sequence":' .. sequence .. ',' .. string.sub(ARGV[1], 2)
local length = redis.call('RPUSH', KEYS[1], record)
redis.call('RPUSH', KEYS[2], length - 1)
redis.call('ZADD', KEYS[3], 'NX', sequence, ARGV[2])
return sequence
"""


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


_default = MemoryStore()
_opened: dict[str, SessionStore] = {}
_opened_lock = threading.Lock()


def default_store() -> MemoryStore:
    """The process's in-memory store (the ``memory`` setting)."""
    return _default


def open_store(url: str | None = None) -> SessionStore:
    """The store a URL names (one instance per URL in a process): ``memory``, ``sqlite:///path`` or
    ``redis://...``; raises StoreError when it cannot be opened, ValueError for an unknown scheme or a missing
    extra."""
    if url is None or url == "memory":
        return _default
    with _opened_lock:
        store = _opened.get(url)
        if store is None:
            store = _opened[url] = _new_store(url)
        return store


def _new_store(url: str) -> SessionStore:
    if url.startswith("sqlite://"):
        return SQLiteStore(url[len("sqlite://") :])  # sqlite:///abs/path.db, sqlite://relative.db
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url)
    raise ValueError(f"unknown session store {_without_password(url)!r}: use memory, sqlite:///PATH or redis://HOST")
