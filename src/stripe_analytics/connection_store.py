"""Connections kept on the server, encrypted at rest, so they last across reloads, tabs and
restarts (`DATA_DIR/connections.store`).

Each entry is one holder's connection: a browser (`browser:<session id>`) when nobody signs
in, or a signed-in user (`user:<e-mail>`). The file maps an HMAC of the holder (so it names no
one and holds no session id) to a Fernet token (AES-128-CBC + HMAC-SHA256: authenticated)
of the connection's record, its holder and when it was last used. The key comes from
`SECRET_KEY` or, when that is unset, from a key file generated once in `DATA_DIR` with mode
0600. A corrupt or undecryptable entry (a changed `SECRET_KEY`) is dropped with a plain
message, never a crash. Entries unused for `SESSION_IDLE_DAYS` expire: they are dropped and,
for Connect OAuth, the platform's access is deauthorized unless another holder still has the
same account.

Browser session ids travel in a cookie as `<id>.<signature>` (`sign_session_id`), so a
forged or altered cookie is told apart from an unknown one and refused before any lookup.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .cache import make_folders
from .config import Settings
from .connection import Connection
from .oauth import OAuthError

log = logging.getLogger(__name__)

STORE_FILE = "connections.store"
KEY_FILE = ".secret_key"
SESSION_ID_BYTES = 32
DAY = 86400.0
_LOCK = threading.RLock()


class StoreKeyError(Exception):
    """The key file cannot be read or created; the message says what to do."""


@dataclass(frozen=True)
class Loaded:
    """What looking up a holder's connection found: the connection, or why there is none
    (`problem` is a plain sentence to show once; None when there simply was none)."""

    connection: Connection | None
    problem: str | None = None


def holder_for_browser(session_id: str) -> str:
    return f"browser:{session_id}"


def holder_for_user(email: str) -> str:
    return f"user:{email.strip().lower()}"


# ----------------------------------------------------------------------------- keys

def _master_key(settings: Settings) -> bytes:
    """32 bytes: from SECRET_KEY when set, else from DATA_DIR/.secret_key (made once, 0600)."""
    if settings.secret_key is not None:
        return hashlib.sha256(settings.secret_key.get_secret_value().encode()).digest()
    folder = Path(settings.data_dir)
    path = folder / KEY_FILE
    try:
        make_folders(folder)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.urlsafe_b64encode(secrets.token_bytes(32)))
            log.info("connection store: generated a new key file in DATA_DIR")
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # never readable by other users of the machine
        raw = base64.urlsafe_b64decode(path.read_bytes().strip())
    except (OSError, ValueError) as error:
        raise StoreKeyError(f"The key file DATA_DIR/{KEY_FILE} cannot be read or created ({type(error).__name__}); "
                            "set SECRET_KEY or fix the folder's permissions.") from None
    if len(raw) != 32:
        raise StoreKeyError(f"The key file DATA_DIR/{KEY_FILE} is damaged; delete it (stored connections are then "
                            "lost and must be connected again) or set SECRET_KEY.")
    return raw


def _subkey(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"stripe-analytics " + purpose).derive(master)


class Keys:
    """The store's cipher and the two HMAC keys (entry names, cookie signatures), all derived
    from one master key."""

    def __init__(self, master: bytes):
        self.fernet = Fernet(base64.urlsafe_b64encode(_subkey(master, b"store")))
        self._names = _subkey(master, b"entry names")
        self._cookies = _subkey(master, b"session cookies")

    @classmethod
    def of(cls, settings: Settings) -> "Keys":
        return cls(_master_key(settings))

    def entry_name(self, holder: str) -> str:
        return hmac.new(self._names, holder.encode(), hashlib.sha256).hexdigest()

    def sign_session_id(self, session_id: str) -> str:
        mac = hmac.new(self._cookies, session_id.encode(), hashlib.sha256).digest()
        return f"{session_id}.{base64.urlsafe_b64encode(mac[:18]).decode()}"

    def session_id_from_cookie(self, value: str | None) -> str | None:
        """The session id in a cookie value, or None when it is missing, malformed or its
        signature does not match (forged or altered)."""
        if not value or len(value) > 200 or value.count(".") != 1:
            return None
        session_id, _, _ = value.partition(".")
        if len(session_id) < 40 or not all(c.isalnum() or c in "-_" for c in session_id):
            return None
        return session_id if hmac.compare_digest(self.sign_session_id(session_id), value) else None


def new_session_id() -> str:
    return secrets.token_urlsafe(SESSION_ID_BYTES)


# ----------------------------------------------------------------------------- the store

class ConnectionStore:
    """The encrypted file of stored connections. Every method reads and writes the file under
    a lock (threads of this server, and any other process using the same DATA_DIR)."""

    def __init__(self, settings: Settings, *, now=time.time):
        self.settings = settings
        self.keys = Keys.of(settings)
        self.path = Path(settings.data_dir) / STORE_FILE
        self.idle_seconds = settings.session_idle_days * DAY
        self._now = now

    # -- file
    @contextmanager
    def _locked(self) -> Iterator[dict[str, str]]:
        """The entries, locked; written back (atomically) when the block changed them."""
        make_folders(self.path.parent)
        lock_fd = os.open(self.path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with _LOCK, os.fdopen(lock_fd, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entries = self._read()
                before = dict(entries)
                yield entries
                if entries != before:
                    self._write(entries)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("connection store: the file was unreadable and was started afresh")
            return {}
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            return {}
        return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, str)}

    def _write(self, entries: dict[str, str]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": 1, "entries": entries}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def _decrypt(self, token: str) -> dict[str, Any] | None:
        try:
            payload = json.loads(self.keys.fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError):
            return None
        return payload if isinstance(payload, dict) and isinstance(payload.get("connection"), dict) else None

    def _encrypt(self, holder: str, record: dict[str, Any], last_used: float) -> str:
        plain = json.dumps({"holder": holder, "last_used": last_used, "connection": record})
        return self.keys.fernet.encrypt(plain.encode()).decode()

    # -- holders' connections
    def load(self, holder: str, settings: Settings | None = None) -> Loaded:
        """This holder's connection (marked used now), or why there is none. A corrupt,
        undecryptable, foreign or expired entry is dropped. `settings`: this run's (the OAuth
        settings the connection is restored with may have changed since the store was made)."""
        settings = settings or self.settings
        name = self.keys.entry_name(holder)
        expired: Connection | None = None
        with self._locked() as entries:
            token = entries.get(name)
            if token is None:
                return Loaded(None)
            payload = self._decrypt(token)
            if payload is None or payload.get("holder") != holder:
                del entries[name]
                log.warning("connection store: an entry could not be decrypted and was dropped")
                return Loaded(None, "The stored connection could not be read (the app's SECRET_KEY changed, or the "
                                    "store was damaged), so it was dropped: connect again.")
            try:
                conn = Connection.from_record(payload["connection"], settings)
            except (KeyError, TypeError, ValueError, OAuthError) as error:
                del entries[name]
                log.warning("connection store: a stored connection could not be restored (%s) and was dropped",
                            type(error).__name__)
                return Loaded(None, "The stored connection can no longer be used with this app's settings, so it "
                                    "was dropped: connect again.")
            last_used = float(payload.get("last_used") or 0)
            now = self._now()
            if now - last_used > self.idle_seconds:
                del entries[name]
                expired = conn
            else:
                if now - last_used > 60:  # "used" is kept to the minute: no write on every rerun
                    entries[name] = self._encrypt(holder, payload["connection"], now)
                conn.on_refresh = lambda c, h=holder: self.save(h, c)
                return Loaded(conn)
        self._retire(expired)
        days = self.settings.session_idle_days
        return Loaded(None, f"Your connection to {expired.label} was not used for {days:g} days, so it expired and "
                            "its key or token was deleted: connect again.")

    def has_entry(self, holder: str) -> bool:
        """Whether the store has an entry for this holder (usable or not), read without a change."""
        return self.keys.entry_name(holder) in self._read()

    def held(self, settings: Settings | None = None) -> list[tuple[str, Connection]]:
        """Every holder's connection that has not expired, most recently used first, without
        marking any as used (the server's schedule is not a visit). Entries that cannot be
        read are left for `load` and `purge_expired` to drop with their message."""
        settings = settings or self.settings
        found: list[tuple[float, str, Connection]] = []
        with self._locked() as entries:
            now = self._now()
            for token in entries.values():
                payload = self._decrypt(token)
                if payload is None or not isinstance(payload.get("holder"), str):
                    continue
                last_used = float(payload.get("last_used") or 0)
                if now - last_used > self.idle_seconds:
                    continue
                try:
                    conn = Connection.from_record(payload["connection"], settings)
                except (KeyError, TypeError, ValueError, OAuthError):
                    continue
                holder = payload["holder"]
                conn.on_refresh = lambda c, h=holder, used=last_used: self._replace(h, c, used)
                found.append((last_used, holder, conn))
        return [(holder, conn) for _, holder, conn in sorted(found, key=lambda item: -item[0])]

    def _replace(self, holder: str, conn: Connection, last_used: float) -> None:
        """Store a renewed token, keeping when the holder last used the connection."""
        with self._locked() as entries:
            name = self.keys.entry_name(holder)
            if name in entries:
                entries[name] = self._encrypt(holder, conn.to_record(), last_used)

    def save(self, holder: str, conn: Connection) -> None:
        """Store (or replace) this holder's connection, used now."""
        if not conn.open:
            raise ValueError("a closed connection is not stored")
        with self._locked() as entries:
            entries[self.keys.entry_name(holder)] = self._encrypt(holder, conn.to_record(), self._now())
        conn.on_refresh = lambda c, h=holder: self.save(h, c)

    def delete(self, holder: str, conn: Connection | None = None) -> str | None:
        """Disconnect: remove the holder's entry and close the connection (deauthorizing a
        Connect account nobody else holds). Returns Stripe's plain warning, if any."""
        with self._locked() as entries:
            entries.pop(self.keys.entry_name(holder), None)
        if conn is None:
            return None
        return conn.close(deauthorize=not self.holds(conn.account_id, kind=conn.kind))

    def holds(self, account_id: str, *, kind: str) -> bool:
        """Does any stored connection of this kind reach this account?"""
        with self._locked() as entries:
            for token in entries.values():
                payload = self._decrypt(token)
                record = (payload or {}).get("connection") or {}
                if record.get("account_id") == account_id and record.get("kind") == kind:
                    return True
        return False

    def purge_expired(self) -> int:
        """Drop every entry unused for SESSION_IDLE_DAYS (and any that no longer decrypts);
        the number dropped."""
        retired: list[Connection] = []
        dropped = 0
        with self._locked() as entries:
            now = self._now()
            for name, token in list(entries.items()):
                payload = self._decrypt(token)
                if payload is not None and now - float(payload.get("last_used") or 0) <= self.idle_seconds:
                    continue
                del entries[name]
                dropped += 1
                if payload is not None:
                    try:
                        retired.append(Connection.from_record(payload["connection"], self.settings))
                    except (KeyError, TypeError, ValueError, OAuthError):
                        pass
        for conn in retired:
            self._retire(conn)
        if dropped:
            log.info("connection store: %d idle or unreadable connection(s) dropped", dropped)
        return dropped

    def _retire(self, conn: Connection | None) -> None:
        if conn is None:
            return
        warning = conn.close(deauthorize=not self.holds(conn.account_id, kind=conn.kind))
        if warning:
            log.warning("connection store: deauthorizing an expired connection failed")

    def __repr__(self) -> str:
        return "ConnectionStore(<encrypted>)"
