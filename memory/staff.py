"""Hall staff accounts, their console sessions, and throttling of password guessing.

Passwords are hashed with Argon2id (argon2-cffi's `PasswordHasher`, the algorithm OWASP
recommends first; memory-hard, salted, parameters carried in the hash so they can be raised
and old hashes re-hashed on the next sign-in). Sessions are random tokens of which only a
SHA-256 is stored, so a database dump holds no usable session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from tongban.memory import audit
from tongban.memory.models import AuditLog, StaffAccount, StaffRole, StaffSession, utcnow
from tongban.memory.settings import PasswordHashing, get_memory_settings

_HASHERS: dict[PasswordHashing, PasswordHasher] = {
    "owasp": PasswordHasher(),  # argon2-cffi's defaults: RFC 9106's low-memory choice
    "cheapest": PasswordHasher.from_parameters(profiles.CHEAPEST),  # tests only (MemorySettings)
}
MIN_PASSWORD = 10
SIGN_IN_FAILED = "sign_in_failed"


class StaffError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


@dataclass(frozen=True)
class Scope:
    """The halls and departments whose conversations an account may see and act on.

    A conversation is placed by its hall and its item's department. It is covered when every
    axis that both the scope and the conversation name agrees, and either one of them does or
    the conversation is in no hall yet: a resident who named no hall (and has none on file) is
    in the queue of everyone whose departments, if they have any, match, so somebody picks it
    up. `everything` is a supervisor with no scope set: the whole province.
    """

    halls: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    everything: bool = False

    def covers(self, hall: str | None, department: str | None) -> bool:
        if self.everything:
            return True
        checks = [value in allowed for value, allowed in ((hall, self.halls), (department, self.departments))
                  if value and allowed]
        return all(checks) and (any(checks) or not hall)

    def as_dict(self) -> dict[str, object]:
        return {"halls": sorted(self.halls), "departments": sorted(self.departments), "everything": self.everything}


@dataclass(frozen=True)
class StaffView:
    """What the console knows about the signed-in person (no hash)."""

    id: int
    username: str
    display_name: str
    role: str
    hall: str | None
    department: str | None
    scope: Scope = Scope()

    @property
    def supervisor(self) -> bool:
        return self.role == StaffRole.SUPERVISOR

    def may_see(self, hall: str | None, department: str | None, *, holder: str | None = None) -> bool:
        """In scope, or holding the conversation (a held one stays theirs wherever it is placed)."""
        return (holder is not None and holder == self.username) or self.scope.covers(hall, department)


def scope_of(account: StaffAccount) -> Scope:
    halls = {h for h in [account.hall, *(account.halls or [])] if h}
    departments = {d for d in [account.department, *(account.departments or [])] if d}
    everything = account.role == StaffRole.SUPERVISOR and not halls and not departments
    return Scope(halls=frozenset(halls), departments=frozenset(departments), everything=everything)


def view(account: StaffAccount) -> StaffView:
    return StaffView(
        id=account.id or 0, username=account.username, display_name=account.display_name,
        role=account.role, hall=account.hall, department=account.department, scope=scope_of(account),
    )


def add_staff(
    session: Session,
    *,
    username: str,
    password: str,
    role: str = StaffRole.STAFF,
    display_name: str | None = None,
    hall: str | None = None,
    department: str | None = None,
    halls: list[str] | None = None,
    departments: list[str] | None = None,
) -> StaffAccount:
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise StaffError("用户名不能为空、不能含空格，且不超过64个字符")
    if role not in (StaffRole.STAFF, StaffRole.SUPERVISOR):
        raise StaffError("角色只能是 staff 或 supervisor")
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"密码至少{MIN_PASSWORD}位")
    if session.exec(select(StaffAccount).where(StaffAccount.username == username)).first():
        raise StaffError(f"用户名 {username} 已存在")
    account = StaffAccount(
        username=username, display_name=(display_name or username)[:64], role=str(role),
        hall=hall or None, department=department or None, password_hash=_hasher().hash(password),
        halls=_names(halls, 100), departments=_names(departments, 50),
    )
    session.add(account)
    session.flush()
    return account


def _hasher() -> PasswordHasher:
    """The configured Argon2id parameters (TONGBAN_PASSWORD_HASHING; OWASP's in production)."""
    return _HASHERS[get_memory_settings().password_hashing_in_effect]


def _names(values: list[str] | None, longest: int) -> list[str]:
    names = sorted({v.strip() for v in values or [] if v and v.strip()})
    if any(len(n) > longest for n in names):
        raise StaffError(f"大厅或部门名称不超过{longest}个字符")
    return names


def set_scope(session: Session, username: str, *, halls: list[str], departments: list[str]) -> StaffAccount | None:
    """Replace what an account may see beyond its own hall and department (audited by the flush hook)."""
    account = session.exec(select(StaffAccount).where(StaffAccount.username == username)).first()
    if account is not None:
        account.halls, account.departments = _names(halls, 100), _names(departments, 50)
        account.updated_at = utcnow()
        session.add(account)
        session.flush()
    return account


def set_active(session: Session, username: str, active: bool) -> StaffAccount | None:
    account = session.exec(select(StaffAccount).where(StaffAccount.username == username)).first()
    if account is not None and account.active != active:
        account.active = active
        account.updated_at = utcnow()
        session.add(account)
        if not active:
            session.execute(delete(StaffSession).where(col(StaffSession.staff_id) == account.id))
        session.flush()
    return account


def authenticate(session: Session, username: str, password: str) -> StaffAccount | None:
    """The active account when the password matches; a stale hash is upgraded in place."""
    account = session.exec(select(StaffAccount).where(StaffAccount.username == username)).first()
    if account is None or not account.active:
        _verify(_dummy_hash(get_memory_settings().password_hashing_in_effect), password)
        return None
    if not _verify(account.password_hash, password):
        return None
    if _hasher().check_needs_rehash(account.password_hash):
        account.password_hash = _hasher().hash(password)
        session.add(account)
        session.flush()
    return account


@lru_cache(maxsize=2)
def _dummy_hash(hashing: PasswordHashing) -> str:
    """Verified against for unknown names, so they cost as much as wrong passwords. Made on the
    first sign-in, not at import: an Argon2 hash is ~0.1 s of CPU before the server's port opens."""
    return _HASHERS[hashing].hash("tongban-no-such-user")


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


# ------------------------------------------------------------------ throttling


def recent_failures(session: Session, username: str, *, since: dt.datetime) -> int:
    """Failed sign-ins for a name from anywhere, counted from the audit log that records each."""
    return session.exec(
        select(func.count()).select_from(AuditLog).where(
            AuditLog.entity == "staff_account", AuditLog.action == SIGN_IN_FAILED,
            AuditLog.entity_id == username[:64], col(AuditLog.at) >= since,
        )
    ).one()


def sign_in_wait(
    session: Session, username: str, ip: str, *, now: dt.datetime, window: dt.timedelta, free: int,
    base: dt.timedelta = dt.timedelta(seconds=30),
) -> dt.timedelta:
    """How long this address must wait before trying this account again (zero: now).

    Counted per (account, address), as OWASP's authentication guidance advises, so that
    failures from one address never refuse the right password from another: after `free`
    failures in `window`, each further try waits twice as long as the last, up to `window`.
    """
    rows = session.exec(
        select(func.count(), func.max(AuditLog.at)).where(
            AuditLog.entity == "staff_account", AuditLog.action == SIGN_IN_FAILED,
            AuditLog.entity_id == username[:64], AuditLog.actor == f"anonymous:{ip}"[:128],
            col(AuditLog.at) >= now - window,
        )
    ).one()
    failures, last = rows
    if failures < free or last is None:
        return dt.timedelta(0)
    last = last if last.tzinfo else last.replace(tzinfo=dt.UTC)
    delay = min(window, base * 2 ** (failures - free))
    return max(dt.timedelta(0), last + delay - now)


def recent_failures_from(session: Session, ip: str, *, since: dt.datetime) -> int:
    """Failed sign-ins from one address, whatever names it tried (spraying many names)."""
    return session.exec(
        select(func.count()).select_from(AuditLog).where(
            AuditLog.action == SIGN_IN_FAILED, AuditLog.actor == f"anonymous:{ip}", col(AuditLog.at) >= since,
        )
    ).one()


def record_failure(session: Session, username: str, *, ip: str) -> None:
    audit.record(session, action=SIGN_IN_FAILED, entity="staff_account", entity_id=username[:64],
                 after={"ip": ip}, actor=f"anonymous:{ip}")


# ------------------------------------------------------------------ sessions


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, account: StaffAccount, *, ttl: dt.timedelta) -> str:
    """A new session token (given to the browser once; only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(StaffSession(token_hash=_digest(token), staff_id=account.id or 0, created_at=now, expires_at=now + ttl))
    session.execute(delete(StaffSession).where(col(StaffSession.expires_at) < now))  # housekeeping
    session.flush()
    return token


def session_staff(session: Session, token: str | None) -> StaffView | None:
    if not token or len(token) > 128 or not token.isascii():  # ours are token_urlsafe: ASCII
        return None
    row = session.exec(
        select(StaffAccount, StaffSession.expires_at).join(StaffSession, col(StaffSession.staff_id) == StaffAccount.id)
        .where(StaffSession.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    account, expires_at = row
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.UTC)
    if expires_at < utcnow() or not account.active:
        return None
    return view(account)


def close_session(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(col(StaffSession.token_hash) == _digest(token)))
