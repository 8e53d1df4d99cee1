"""All SQL for rule-set versions and each organisation's current rule set.

Every read is scoped by construction: `readable` keeps system-owned rows (owner NULL) and the caller's own rows;
another organisation's rows never match. The version life cycle shared with questionnaires (get, list, key
ownership, add) is in app.content_versions.repository.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from app.content_versions import repository as versions
from app.questionnaires.models import QuestionnaireVersion
from app.rulesets.models import CurrentRuleSet, RuleSetVersion


def readable(organisation_id: str) -> Select[RuleSetVersion]:
    """The base statement of every rule-set read: system content plus the organisation's own."""
    return versions.readable(RuleSetVersion, organisation_id)


# --- the fast path of new assessments: metadata only, documents loaded on a cache miss -------------------

ResolveSelect = Select[str, int, str, str, str, int, str]
"""(key, version, status, content hash, questionnaire key, questionnaire version, questionnaire hash)"""

RESOLVE_COLUMNS = (
    RuleSetVersion.key,
    RuleSetVersion.version,
    RuleSetVersion.status,
    RuleSetVersion.content_hash.label("ruleset_hash"),
    RuleSetVersion.questionnaire_key,
    RuleSetVersion.questionnaire_version,
    QuestionnaireVersion.content_hash.label("questionnaire_hash"),
)


@dataclass(frozen=True)
class ResolvedRow:
    """A rule-set version and the questionnaire version it scores, as resolution reads them."""

    key: str
    version: int
    status: str
    ruleset_hash: str
    questionnaire_key: str
    questionnaire_version: int
    questionnaire_hash: str


def _resolved(row: Row[str, int, str, str, str, int, str] | None) -> ResolvedRow | None:
    if row is None:
        return None
    return ResolvedRow(
        key=row.key,
        version=int(row.version),
        status=row.status,
        ruleset_hash=row.ruleset_hash,
        questionnaire_key=row.questionnaire_key,
        questionnaire_version=int(row.questionnaire_version),
        questionnaire_hash=row.questionnaire_hash,
    )


# Built once with bound parameters (`org`, `key`, `version`, `qkey`, `qversion`): the
# write path runs one of them per new assessment, and building a statement costs more than running it.
_RESOLVE = (
    select(*RESOLVE_COLUMNS)
    .join(
        QuestionnaireVersion,
        (QuestionnaireVersion.key == RuleSetVersion.questionnaire_key)
        & (QuestionnaireVersion.version == RuleSetVersion.questionnaire_version),
    )
    .where(
        or_(RuleSetVersion.owner_organisation_id.is_(None), RuleSetVersion.owner_organisation_id == bindparam("org")),
        or_(
            QuestionnaireVersion.owner_organisation_id.is_(None),
            QuestionnaireVersion.owner_organisation_id == bindparam("org"),
        ),
    )
)
_RESOLVE_VERSION = _RESOLVE.where(
    RuleSetVersion.key == bindparam("key"), RuleSetVersion.version == bindparam("version")
)
_RESOLVE_LATEST = (
    _RESOLVE.where(RuleSetVersion.key == bindparam("key"), RuleSetVersion.status == "published")
    .order_by(RuleSetVersion.version.desc())
    .limit(1)
)
_CURRENT_CHOICE = select(CurrentRuleSet.ruleset_key, CurrentRuleSet.ruleset_version).where(
    CurrentRuleSet.organisation_id == bindparam("org"), CurrentRuleSet.questionnaire_key == bindparam("qkey")
)
_DEFAULT = _RESOLVE.where(
    RuleSetVersion.owner_organisation_id.is_(None),
    RuleSetVersion.status == "published",
    RuleSetVersion.questionnaire_key == bindparam("qkey"),
).order_by(RuleSetVersion.version.desc())
_DEFAULT_ANY_VERSION = _DEFAULT.limit(1)
_DEFAULT_OF_VERSION = _DEFAULT.where(RuleSetVersion.questionnaire_version == bindparam("qversion")).limit(1)


def resolve_named_row(session: Session, organisation_id: str, key: str, version: int | None) -> ResolvedRow | None:
    connection = session.connection()
    if version is None:
        return _resolved(connection.execute(_RESOLVE_LATEST, {"org": organisation_id, "key": key}).first())
    params = {"org": organisation_id, "key": key, "version": version}
    return _resolved(connection.execute(_RESOLVE_VERSION, params).first())


def owner_of_version(session: Session, organisation_id: str, key: str, version: int) -> tuple[bool, str | None]:
    """(found, owner organisation id: None for shipped content) of a rule-set version the organisation can see."""
    statement = readable(organisation_id).where(RuleSetVersion.key == key, RuleSetVersion.version == version)
    owner = session.execute(statement.with_only_columns(RuleSetVersion.owner_organisation_id)).first()
    return (False, None) if owner is None else (True, owner[0])


def resolve_current_row(
    session: Session, organisation_id: str, questionnaire_key: str, questionnaire_version: int | None
) -> ResolvedRow | None:
    """The organisation's chosen rule set for the key, else the latest published system rule set targeting it.

    Two small indexed statements: the choice (primary key lookup), then the version's metadata.
    """
    connection = session.connection()
    current = connection.execute(_CURRENT_CHOICE, {"org": organisation_id, "qkey": questionnaire_key}).first()
    if current is not None:
        return resolve_named_row(session, organisation_id, current.ruleset_key, current.ruleset_version)
    if questionnaire_version is None:
        params: dict[str, Any] = {"qkey": questionnaire_key, "org": organisation_id}
        return _resolved(connection.execute(_DEFAULT_ANY_VERSION, params).first())
    params = {"qkey": questionnaire_key, "qversion": questionnaire_version, "org": organisation_id}
    return _resolved(connection.execute(_DEFAULT_OF_VERSION, params).first())


def documents(
    session: Session,
    organisation_id: str,
    ruleset_key: str,
    ruleset_version: int,
    questionnaire_key: str,
    questionnaire_version: int,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Both documents of a resolved pair (called only on a compile-cache miss)."""
    row = session.execute(
        select(RuleSetVersion.document, QuestionnaireVersion.document.label("questionnaire_document"))
        .join(
            QuestionnaireVersion,
            (QuestionnaireVersion.key == RuleSetVersion.questionnaire_key)
            & (QuestionnaireVersion.version == RuleSetVersion.questionnaire_version),
        )
        .where(
            RuleSetVersion.key == ruleset_key,
            RuleSetVersion.version == ruleset_version,
            QuestionnaireVersion.key == questionnaire_key,
            QuestionnaireVersion.version == questionnaire_version,
            versions.visible(RuleSetVersion, organisation_id),
            versions.visible(QuestionnaireVersion, organisation_id),
        )
    ).first()
    return (row.document, row.questionnaire_document) if row else None


# --- versions ----------------------------------------------------------------------------------------------


def published_targeting(
    session: Session, organisation_id: str, questionnaire_key: str, questionnaire_version: int
) -> list[RuleSetVersion]:
    return list(
        session.scalars(
            readable(organisation_id).where(
                RuleSetVersion.questionnaire_key == questionnaire_key,
                RuleSetVersion.questionnaire_version == questionnaire_version,
                RuleSetVersion.status == "published",
            )
        )
    )


def usable_hashes(session: Session, organisation_id: str) -> list[str]:
    """The content hashes of every published or retired version the organisation can see (system content first),
    metadata only: the documents stay in the database."""
    return list(
        session.scalars(
            select(RuleSetVersion.content_hash)
            .where(
                versions.visible(RuleSetVersion, organisation_id),
                RuleSetVersion.status.in_(("published", "retired")),
            )
            .order_by(RuleSetVersion.owner_organisation_id.is_not(None), RuleSetVersion.key, RuleSetVersion.version)
        )
    )


def levels_by_hash(session: Session, organisation_id: str, content_hashes: Collection[str]) -> dict[str, Any]:
    """The `levels` member of the visible documents with these hashes (as stored: the caller checks its shape)."""
    rows = session.execute(
        select(RuleSetVersion.content_hash, RuleSetVersion.document["levels"].label("levels")).where(
            versions.visible(RuleSetVersion, organisation_id), RuleSetVersion.content_hash.in_(content_hashes)
        )
    )
    return {row.content_hash: row.levels for row in rows}


def levels_of_key(session: Session, organisation_id: str, key: str) -> list[Any]:
    """The `levels` member of each published or retired version of rule set `key` the organisation can see,
    oldest version first (as stored: the caller checks its shape); [] when it has none."""
    return list(
        session.scalars(
            select(RuleSetVersion.document["levels"])
            .where(
                versions.visible(RuleSetVersion, organisation_id),
                RuleSetVersion.key == key,
                RuleSetVersion.status.in_(("published", "retired")),
            )
            .order_by(RuleSetVersion.version)
        )
    )


# --- current rule sets -------------------------------------------------------------------------------------


def current_choices(session: Session, organisation_id: str) -> list[CurrentRuleSet]:
    return list(
        session.scalars(
            select(CurrentRuleSet)
            .where(CurrentRuleSet.organisation_id == organisation_id)
            .order_by(CurrentRuleSet.questionnaire_key)
        )
    )


def current_choice(session: Session, organisation_id: str, questionnaire_key: str) -> CurrentRuleSet | None:
    return session.scalar(
        select(CurrentRuleSet).where(
            CurrentRuleSet.organisation_id == organisation_id,
            CurrentRuleSet.questionnaire_key == questionnaire_key,
        )
    )


def is_current_for(session: Session, organisation_id: str, key: str, version: int) -> bool:
    """Whether the organisation uses this version for new assessments (its own choice)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(CurrentRuleSet)
            .where(
                CurrentRuleSet.organisation_id == organisation_id,
                CurrentRuleSet.ruleset_key == key,
                CurrentRuleSet.ruleset_version == version,
            )
        )
        or 0
    ) > 0


def add_choice(session: Session, choice: CurrentRuleSet) -> None:
    session.add(choice)
    session.flush()


def latest_published_system(session: Session, organisation_id: str) -> list[RuleSetVersion]:
    """Per questionnaire key, the newest published system rule set (the defaults)."""
    rows = list(
        session.scalars(
            readable(organisation_id)
            .where(RuleSetVersion.owner_organisation_id.is_(None), RuleSetVersion.status == "published")
            .order_by(RuleSetVersion.questionnaire_key, RuleSetVersion.version.desc())
        )
    )
    best: dict[str, RuleSetVersion] = {}
    for row in rows:
        best.setdefault(row.questionnaire_key, row)
    return list(best.values())


def shipped_default(session: Session, questionnaire_key: str) -> ResolvedRow | None:
    """The rule set an organisation with no choice for `questionnaire_key` uses for new assessments that name no
    questionnaire version (the statement `resolve_current_row` runs for it)."""
    params = {"qkey": questionnaire_key, "org": None}
    return _resolved(session.connection().execute(_DEFAULT_ANY_VERSION, params).first())


def organisations_with_choice(session: Session, questionnaire_key: str) -> set[str]:
    """The organisations that chose their current rule set for `questionnaire_key`."""
    return set(
        session.scalars(
            select(CurrentRuleSet.organisation_id).where(CurrentRuleSet.questionnaire_key == questionnaire_key)
        )
    )
