"""Shared helpers of the hardening suite: the route table, valid answers, row counts and real servers."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import Engine, inspect, text

from app.auth.dependencies import Authorize, Public, conditional_policies
from app.auth.permissions import CASE_DATA_OPERATIONS, GRANTS, Operation, Role
from app.content import default_ruleset
from tests.test_route_policies import DOCS_PATHS, _policies

ROOT = Path(__file__).resolve().parents[2]
SOAK = bool(os.environ.get("RISKAPI_SOAK"))

# Distinctive strings that must never reach a log line (tests/hardening/test_privacy.py).
SUBJECT_MARKER = "subj-Zq7Xw9Marker"
FREE_TEXT_MARKER = "Rationale-Kp4Vm2Marker about the child"


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    name: str
    operation: Operation | None  # None: public
    has_body: bool
    # further operations some of its requests need (AuthorizeWhen), e.g. read_answers with include=answers
    conditions: tuple[Operation, ...] = field(default=(), compare=False)

    @property
    def case_data(self) -> bool:
        return self.operation in CASE_DATA_OPERATIONS

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1].split(":", 1)[0] for part in self.path.split("/") if part.startswith("{")]

    def allowed_roles(self) -> frozenset[Role]:
        return frozenset(Role) if self.operation is None else GRANTS[self.operation]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def route_table(app: FastAPI) -> list[RouteInfo]:
    """Every API route and method with its one policy, straight from the app (a new route cannot be missed)."""
    table: list[RouteInfo] = []
    for route in iter_route_contexts(app.routes):
        if route.path in DOCS_PATHS or not isinstance(route.original_route, APIRoute):
            continue
        policies = _policies(route.dependant)
        operation = next((p.operation for p in policies if isinstance(p, Authorize)), None)
        assert operation is not None or any(isinstance(p, Public) for p in policies), route.path
        has_body = route.dependant.body_params != [] or route.original_route.openapi_extra is not None
        for method in sorted(route.methods or []):
            if method in ("HEAD", "OPTIONS"):
                continue
            conditions = tuple(policy.operation for policy in conditional_policies(route.dependant))
            table.append(RouteInfo(method, route.path, route.name, operation, has_body, conditions))
    return table


def has_route(app: FastAPI, method: str, path: str) -> bool:
    return any(r.method == method and r.path == path for r in route_table(app))


def embedded_tests() -> list[dict[str, Any]]:
    return list(default_ruleset()["tests"])


def valid_answers(prefix: str = "Baseline") -> dict[str, Any]:
    """A complete answer set the default rule set accepts (from its own embedded tests)."""
    for case in embedded_tests():
        if case["name"].startswith(prefix):
            return dict(case["answers"])
    raise LookupError(prefix)


def answers_with_free_text() -> dict[str, Any]:
    """A valid answer set that carries a free-text rationale, marked so a log scan can find it."""
    for case in embedded_tests():
        if "prof_judgement_rationale" in case["answers"]:
            answers = dict(case["answers"])
            answers["prof_judgement_rationale"] = FREE_TEXT_MARKER
            return answers
    raise LookupError("no embedded test with a free-text rationale")


def assessment_body(subject_ref: str, answers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "questionnaire": {"key": "online-exposure", "version": 1},
        "ruleset": {"key": "online-harm-england", "version": 1},
        "subject_ref": subject_ref,
        "answers": answers if answers is not None else valid_answers(),
    }


# Tables whose rows may legitimately change on a refused request: refusals are audited in their own transaction,
# keys record their last use, and the rate limiter counts.
VOLATILE_TABLES = frozenset(
    {"audit_events", "audit_event_refs", "audit_chain_heads", "rate_limit_counters", "alembic_version"}
)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        names = [t for t in inspect(conn).get_table_names() if t not in VOLATILE_TABLES]
        return {name: int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()) for name in names}


from tests.servers import Server, free_port, start_server  # noqa: E402,F401  (re-exported for the hardening tests)

# --- requests built from the route table and the OpenAPI document ---------------------------------------------

PROBE = "hardening-probe"


def fill_path(route: RouteInfo, values: dict[str, str] | None = None) -> str:
    path = route.path
    for name in route.path_params:
        value = (values or {}).get(name) or ("1" if "version" in name else PROBE)
        path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
    return path


def resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def example_body(openapi: dict[str, Any], route: RouteInfo) -> Any:
    """The documented example of a route's JSON body, if it has one."""
    operation = openapi["paths"].get(route.path, {}).get(route.method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return None
    if "example" in content:
        return content["example"]
    if content.get("examples"):
        return next(iter(content["examples"].values())).get("value")
    schema = resolve(openapi, content.get("schema", {}))
    if schema.get("examples"):
        return schema["examples"][0]
    return schema.get("example")


def required_query(openapi: dict[str, Any], route: RouteInfo) -> dict[str, str]:
    """A plausible value for each required query parameter (integers 1, enums their first value)."""
    operation = openapi["paths"].get(route.path, {}).get(route.method.lower(), {})
    values: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "query" or not parameter.get("required"):
            continue
        schema = resolve(openapi, parameter.get("schema", {}))
        if schema.get("enum"):
            values[parameter["name"]] = str(schema["enum"][0])
        elif schema.get("type") == "integer":
            values[parameter["name"]] = str(max(1, int(schema.get("minimum", 1))))
        else:
            values[parameter["name"]] = PROBE
    return values


# --- a throwaway PostgreSQL the test owns (never the machine's shared server) -----------------------------------


class ThrowawayPostgres:
    """initdb into a temporary directory owned by `postgres`, on its own port and socket directory."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found or shutil.which("runuser") is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) or runuser are not installed")
        self.bin = found[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="riskapi-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=120, cwd=self.dir
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start"
        )

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` is a crash from the clients' point of view: every connection drops at once."""
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
