"""Organisations, clients and keys; authentication of a bearer key into a Caller."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import TTLCache
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import record_key_operation
from app.auth import repository
from app.auth.caller import Caller
from app.auth.keys import display_prefix, generate_key, key_digest
from app.auth.models import ApiClient, ApiKey, Organisation
from app.auth.permissions import Role
from app.auth.schemas import ClientList, ClientRead, IssuedKey, KeyRead
from app.core.db import utcnow
from app.core.errors import Conflict, FhirNotConfigured, NotFound, Unauthenticated, ValidationFailed
from app.core.metrics import AUTH_FAILURES

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
LAST_USED_RESOLUTION = timedelta(minutes=1)


class KeyRefused(Unauthenticated):
    """A key that names an organisation but cannot be used (revoked or expired): refusals here are audited."""

    def __init__(self, detail: str, organisation_id: str, client_id: str) -> None:
        super().__init__(detail)
        self.organisation_id = organisation_id
        self.client_id = client_id


def organisations(session: Session, slug: str | None = None) -> list[tuple[str, str]]:
    """(id, slug) of every organisation, or of the one named."""
    return repository.organisation_ids_and_slugs(session, slug)


def organisation_slug(session: Session, organisation_id: str) -> str:
    """The organisation's slug (it names the organisation's log in checkpoint origins)."""
    slug = repository.organisation_slug(session, organisation_id)
    if slug is None:
        raise LookupError(f"no organisation {organisation_id}")
    return slug


def fhir_identifier_system(session: Session, organisation_id: str) -> str | None:
    """The organisation's FHIR subject identifier system (docs/fhir.md), None until an admin sets it."""
    return repository.fhir_identifier_system(session, organisation_id)


def store_fhir_identifier_system(session: Session, organisation_id: str, system: str) -> None:
    """Store a system the organisation feature has checked (app/organisation/service.py)."""
    repository.set_fhir_identifier_system(session, organisation_id, system)


def create_organisation(session: Session, slug: str, name: str) -> Organisation:
    if not SLUG.match(slug):
        raise ValidationFailed("slug must be 2-63 lowercase letters, digits or hyphens")
    if repository.organisation_by_slug(session, slug) is not None:
        raise Conflict(f"organisation '{slug}' exists")
    organisation = Organisation(slug=slug, name=name)
    session.add(organisation)
    session.flush()
    return organisation


def required_fhir_identifier_system(session: Session, organisation_id: str) -> str:
    """The organisation's pseudonymous identifier system in FHIR (docs/fhir.md); 409 FhirNotConfigured unset."""
    system = repository.fhir_identifier_system(session, organisation_id)
    if not system:
        raise FhirNotConfigured(
            "Set your organisation's FHIR identifier system first: PUT /v1/organisation/fhir (admin) or "
            "`riskapi org set-identifier-system`"
        )
    return system


def _new_key(
    session: Session, client: ApiClient, expires_at: datetime | None, secret_key: SecretStr
) -> tuple[ApiKey, str]:
    plain = generate_key()
    row = ApiKey(
        client_id=client.id,
        organisation_id=client.organisation_id,
        digest=key_digest(plain, secret_key.get_secret_value()),
        prefix=display_prefix(plain),
        expires_at=expires_at,
    )
    session.add(row)
    return row, plain


def create_client(
    session: Session,
    organisation_id: str,
    name: str,
    roles: list[Role],
    expires_at: datetime | None = None,
    *,
    secret_key: SecretStr,
    actor: Caller | None = None,
) -> IssuedKey:
    """A new client and its first key, digested with `secret_key` (the server setting)."""
    client = ApiClient(organisation_id=organisation_id, name=name, roles=sorted({r.value for r in roles}))
    session.add(client)
    session.flush()
    key, plain = _new_key(session, client, expires_at, secret_key)
    try:
        session.flush()
    except IntegrityError as exc:  # pragma: no cover - a 256-bit collision
        raise Conflict("key collision, retry") from exc
    _audit_key_operation(session, organisation_id, "client.create", client.id, {"key_id": key.id}, actor)
    return IssuedKey(client=_client_read(client, [key]), key_id=key.id, api_key=plain)


def list_clients(session: Session, organisation_id: str, *, cursor: str | None, limit: int) -> ClientList:
    order, no_filters = repository.LISTED_CLIENTS, dict[str, str]()
    rows = repository.clients(session, organisation_id, after=order.decode(cursor, no_filters), limit=limit)
    page = order.page(rows, limit, no_filters)
    keys = repository.keys_of_clients(session, organisation_id, [c.id for c in page.items])
    return ClientList(
        items=[_client_read(c, [k for k in keys if k.client_id == c.id]) for c in page.items],
        next_cursor=page.next_cursor,
    )


def rotate_key(
    session: Session,
    organisation_id: str,
    client_id: str,
    grace_hours: int,
    expires_at: datetime | None = None,
    *,
    secret_key: SecretStr,
    actor: Caller | None = None,
) -> IssuedKey:
    """A new key; the client's other keys expire within `grace_hours` (the server setting, unless the admin chose)."""
    client = _active_client(session, organisation_id, client_id)
    now = utcnow()
    grace = timedelta(hours=grace_hours)
    old_keys = repository.keys_of_clients(session, organisation_id, [client.id])
    for old in old_keys:
        if old.revoked_at is None and (old.expires_at is None or old.expires_at > now + grace):
            old.expires_at = now + grace
    key, plain = _new_key(session, client, expires_at, secret_key)
    session.flush()
    _invalidate_after_commit(session)
    _audit_key_operation(session, organisation_id, "client.rotate_key", client.id, {"key_id": key.id}, actor)
    return IssuedKey(client=_client_read(client, [*old_keys, key]), key_id=key.id, api_key=plain)


def revoke_client(session: Session, organisation_id: str, client_id: str, *, actor: Caller | None = None) -> ClientRead:
    client = _active_client(session, organisation_id, client_id)
    now = utcnow()
    client.revoked_at = now
    keys = repository.keys_of_clients(session, organisation_id, [client.id])
    for key in keys:
        key.revoked_at = key.revoked_at or now
    session.flush()
    _invalidate_after_commit(session)
    _audit_key_operation(session, organisation_id, "client.revoke", client.id, None, actor)
    return _client_read(client, keys)


def revoke_key(
    session: Session, organisation_id: str, client_id: str, key_id: str, *, actor: Caller | None = None
) -> KeyRead:
    key = repository.key(session, organisation_id, key_id)
    if key is None or key.client_id != client_id:
        raise NotFound()
    key.revoked_at = key.revoked_at or utcnow()
    session.flush()
    _invalidate_after_commit(session)
    _audit_key_operation(session, organisation_id, "client.revoke_key", client_id, {"key_id": key.id}, actor)
    return _key_read(key)


# --- authentication ------------------------------------------------------------------------------------------
#
# Valid keys are cached in-process by digest for AUTH_CACHE_SECONDS, so most requests authenticate without a
# database round trip (ADR 0006). Expiry is checked against the clock on every request; revocation and rotation
# clear this process's cache when they commit; another process sees them within AUTH_CACHE_SECONDS. The cache is
# read on the event loop and filled from the threadpool: cachetools caches are not thread-safe, hence the lock.

AUTH_CACHE_SECONDS = 5.0
AUTH_CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _CachedKey:
    record: repository.KeyRecord
    caller: Caller


_auth_cache: TTLCache[str, _CachedKey] = TTLCache(
    maxsize=AUTH_CACHE_MAX_ENTRIES, ttl=AUTH_CACHE_SECONDS, timer=time.monotonic
)
_auth_cache_lock = threading.Lock()


def invalidate_auth_cache() -> None:
    """Forget every cached key of this process (a key or client was revoked or rotated)."""
    with _auth_cache_lock:
        _auth_cache.clear()


def _invalidate_after_commit(session: Session) -> None:
    invalidate_auth_cache()  # a request may have re-cached the old row before this transaction committed
    event.listen(session, "after_commit", lambda _session: invalidate_auth_cache(), once=True)


def presented_digest(authorization: str | None, secret_key: SecretStr) -> str:
    """The digest of the bearer key in an Authorization header (401 when it is missing or malformed)."""
    if not authorization:
        AUTH_FAILURES.labels("missing").inc()
        raise Unauthenticated("Missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        AUTH_FAILURES.labels("malformed").inc()
        raise Unauthenticated("Use 'Authorization: Bearer <api key>'")
    return key_digest(token, secret_key.get_secret_value())


def _checked(record: repository.KeyRecord, now: datetime) -> None:
    if record.key_revoked_at is not None or record.client_revoked_at is not None:
        raise KeyRefused("This API key has been revoked", record.organisation_id, record.client_id)
    if record.expires_at is not None and record.expires_at <= now:
        raise KeyRefused("This API key has expired", record.organisation_id, record.client_id)


def cached_caller(digest: str) -> Caller | None:
    """The caller of a recently authenticated key, without I/O; None when it must be looked up."""
    with _auth_cache_lock:
        entry = _auth_cache.get(digest)
    if entry is None:
        return None
    _checked(entry.record, utcnow())
    return entry.caller


def authenticate_digest(session: Session, digest: str) -> Caller:
    """Look the key up (one Core row), refuse revoked or expired keys, note its use, cache it."""
    record = repository.key_record(session, digest)
    if record is None:
        AUTH_FAILURES.labels("unknown").inc()
        raise Unauthenticated("Unknown API key")
    now = utcnow()
    _checked(record, now)
    if record.last_used_at is None or record.last_used_at < now - LAST_USED_RESOLUTION:
        repository.touch_key(session, record.key_id, now, now - LAST_USED_RESOLUTION)
    caller = Caller(
        organisation_id=record.organisation_id,
        client_id=record.client_id,
        key_id=record.key_id,
        roles=frozenset(Role(r) for r in record.roles),
    )
    with _auth_cache_lock:
        _auth_cache[digest] = _CachedKey(record, caller)
    return caller


def authenticate_in_own_transaction(factory: sessionmaker[Session], digest: str) -> Caller:
    """A cache miss: the lookup (and the at-most-once-a-minute `last_used_at` write) in a short transaction of
    its own, so the request's transaction does not start, and hold a connection, before its handler runs."""
    with factory() as session, session.begin():
        return authenticate_digest(session, digest)


def _active_client(session: Session, organisation_id: str, client_id: str) -> ApiClient:
    client = repository.client(session, organisation_id, client_id)
    if client is None:
        raise NotFound()
    if client.revoked_at is not None:
        raise Conflict("this client has been revoked")
    return client


def _key_read(key: ApiKey) -> KeyRead:
    return KeyRead(
        id=key.id,
        prefix=key.prefix,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


def _client_read(client: ApiClient, keys: list[ApiKey]) -> ClientRead:
    return ClientRead(
        id=client.id,
        name=client.name,
        roles=[Role(r) for r in client.roles],
        created_at=client.created_at,
        revoked_at=client.revoked_at,
        keys=[_key_read(k) for k in keys],
    )


def _audit_key_operation(
    session: Session,
    organisation_id: str,
    action: str,
    client_id: str,
    details: dict[str, str] | None,
    actor: Caller | None,
) -> None:
    """Chain the admin key operation in the organisation's audit trail (same transaction). `actor` is the admin
    caller over HTTP; None for the operator's CLI, recorded as acting user 'riskapi-cli'."""
    record_key_operation(
        session,
        organisation_id=organisation_id,
        action=action,
        client_id=client_id,
        details=details,
        actor_client_id=actor.client_id if actor else None,
        acting_user=actor.acting_user if actor else "riskapi-cli",
    )
