"""The baseline for bench/api.py: the write endpoint the way most FastAPI users would write it.

A sync endpoint, a Pydantic body with the same answers, one ORM insert, commit, 201. No scoring, no audit,
no idempotency, no authentication. It uses the same engine set-up as riskapi (app.core.db.create_db_engine:
same pool, same SQLite WAL/synchronous=FULL and BEGIN IMMEDIATE) so both pay the same durability cost.

    RISKAPI_DATABASE_URL=... uvicorn bench.baseline_app:create_app --factory
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, DateTime, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from app.core.config import get_settings
from app.core.db import create_db_engine


class Base(DeclarativeBase):
    pass


class BaselineAssessment(Base):
    __tablename__ = "baseline_assessments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    subject_ref: Mapped[str] = mapped_column(String(256))
    questionnaire_key: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


class Ref(BaseModel):
    key: str
    version: int | None = None


class AssessmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    questionnaire: Ref
    ruleset: Ref | None = None
    subject_ref: str
    answers: dict[str, Any]


class AssessmentOut(BaseModel):
    id: str
    subject_ref: str
    created_at: datetime


def create_app() -> FastAPI:
    engine = create_db_engine(get_settings())
    with engine.begin() as connection:  # the workers start together: one creates the table, the others wait
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(7201)"))
        Base.metadata.create_all(connection)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    app = FastAPI()

    def get_session() -> Iterator[Session]:
        with factory() as session:
            yield session

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/assessments", status_code=status.HTTP_201_CREATED)
    def create_assessment(body: AssessmentIn, session: Annotated[Session, Depends(get_session)]) -> AssessmentOut:
        row = BaselineAssessment(
            subject_ref=body.subject_ref, questionnaire_key=body.questionnaire.key, answers=body.answers
        )
        session.add(row)
        session.commit()
        return AssessmentOut(id=row.id, subject_ref=row.subject_ref, created_at=row.created_at)

    return app
