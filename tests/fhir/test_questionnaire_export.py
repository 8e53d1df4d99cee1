"""A questionnaire version as a FHIR R4 Questionnaire: the mapping (pure), and GET with Accept: application/fhir+json
or `_format`. The enableWhen translation is checked against the engine's own reading of `enable_when` on generated
conditions and answers: flat lists with an R4 enableWhen evaluator written here from the specification's operator
table, SDC enableWhenExpressions with fhirpathpy (the Python port of fhirpath.js, the evaluator LHC-Forms uses)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fhir.resources.R4B.questionnaire import Questionnaire as FhirQuestionnaire
from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models as fhirpath_models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auth.permissions import Role
from app.fhir.canonical import SHIPPED_CANONICAL_BASE, YES_NO_UNKNOWN_SYSTEM, option_system
from app.fhir.enable_when import SDC_ENABLE_WHEN_EXPRESSION, Atom, Coded, EnableRule, Translator, sibling_id
from app.fhir.media import FHIR_JSON
from app.fhir.questionnaire import (
    ITEM_CONTROL,
    MAX_VALUE,
    MIN_VALUE,
    OPTION_EXCLUSIVE,
    REQUIRED_BY_RULESET,
    questionnaire_resource,
)
from app.scoring import parse_questionnaire, parse_ruleset
from app.scoring.checker import check_questionnaire, items_read_by_triggers
from app.scoring.conditions import holds
from app.scoring.models import Questionnaire
from app.scoring.requirements import item_requirements
from tests.conftest import Tenant
from tests.rulesets.factories import QUESTIONNAIRE_YAML, YAML, ruleset_yaml

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "app" / "content"
SHIPPED = "/v1/questionnaires/online-exposure/versions/2"
FHIR = {"Accept": FHIR_JSON}
BASE = "https://trust.example.org/fhir"


def shipped_documents() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted(CONTENT.glob("*.yaml"))]


def shipped_pairs() -> list[tuple[Questionnaire, Any]]:
    """Every shipped questionnaire version with the shipped rule set that scores it (if any)."""
    documents = shipped_documents()
    questionnaires = [parse_questionnaire(d) for d in documents if "items" in d]
    rulesets = [parse_ruleset(d) for d in documents if "levels" in d]
    return [
        (q, next((r for r in rulesets if (r.questionnaire.key, r.questionnaire.version) == (q.key, q.version)), None))
        for q in questionnaires
    ]


def walk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for item in items:
        found.append(item)
        found.extend(walk(item.get("item", [])))
    return found


# --- every shipped version ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", shipped_pairs(), ids=lambda pair: f"{pair[0].key}-v{pair[0].version}")
def test_every_shipped_version_exports_parses_and_requires_what_the_answers_schema_requires(
    pair: tuple[Questionnaire, Any],
) -> None:
    questionnaire, ruleset = pair
    assert ruleset is not None, "every shipped questionnaire version is scored by a shipped rule set"
    requirements = item_requirements(questionnaire, items_read_by_triggers(ruleset))
    exported = questionnaire_resource(
        questionnaire, requirements, base=SHIPPED_CANONICAL_BASE, status="published", required_by_ruleset="x|1"
    )
    FhirQuestionnaire.model_validate(exported)  # parses with fhir.resources (R4B)
    assert exported["url"] == f"{SHIPPED_CANONICAL_BASE}/Questionnaire/{questionnaire.key}"
    assert exported["version"] == str(questionnaire.version)
    assert exported["status"] == "active"
    items = {item["linkId"]: item for item in walk(exported["item"])}
    for requirement in requirements:
        assert items[requirement.item.id].get("required", False) == requirement.always_required
    ours = {item.id for item in questionnaire.items}
    questions = {link for link, item in items.items() if item["type"] not in ("group", "display")}
    assert {link for link in questions if not link.endswith(".unknown")} == ours
    # one group per section, in order, items inside in questionnaire order
    assert [group["linkId"] for group in exported["item"]] == [f"{s.id}.section" for s in questionnaire.sections]
    in_order = [i["linkId"] for g in exported["item"] for i in g["item"] if not i["linkId"].endswith(".unknown")]
    assert in_order == [item.id for item in questionnaire.items]


# --- the mapping, type by type -------------------------------------------------------------------------------------

EVERY_TYPE = {
    "key": "every-type",
    "version": 3,
    "title": "Every type",
    "description": "One item of each type.",
    "sections": [{"id": "one", "title": "One"}, {"id": "two", "title": "Two"}],
    "items": [
        {"id": "yn", "section": "one", "type": "yes_no_unknown", "question": "Y?", "help": "Say yes or no."},
        {"id": "flag", "section": "one", "type": "boolean", "question": "Flag?", "required": True},
        {
            "id": "single",
            "section": "one",
            "type": "single_choice",
            "question": "One of?",
            "options": [{"code": "a", "label": "A", "help": "The first"}, {"code": "unknown", "label": "Not known"}],
        },
        {
            "id": "multi",
            "section": "two",
            "type": "multi_choice",
            "question": "Some of?",
            "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}, {"code": "unknown", "label": "?"}],
        },
        {"id": "age", "section": "two", "type": "integer", "question": "Age?", "min": 0, "max": 17,
         "allow_unknown": True, "required": True, "enable_when": {"q": "yn", "eq": "yes"}},
        {"id": "when", "section": "two", "type": "date", "question": "When?", "allow_unknown": True},
        {"id": "note", "section": "two", "type": "text", "question": "Note?", "max_length": 50},
    ],
}  # fmt: skip


def export_every_type(base: str = BASE, status: str = "draft") -> dict[str, Any]:
    questionnaire = parse_questionnaire(EVERY_TYPE)
    return questionnaire_resource(questionnaire, item_requirements(questionnaire, {}), base=base, status=status)


def test_each_item_type_maps_as_documented() -> None:
    exported = export_every_type()
    items = {item["linkId"]: item for item in walk(exported["item"])}
    assert exported["status"] == "draft"
    assert exported["name"] == "EveryType"
    assert "extension" not in exported
    assert [g["text"] for g in exported["item"]] == ["One", "Two"]

    yn = items["yn"]
    assert yn["type"] == "choice"
    assert [o["valueCoding"] for o in yn["answerOption"]] == [
        {"system": YES_NO_UNKNOWN_SYSTEM, "version": "1", "code": code, "display": display}
        for code, display in (("yes", "Yes"), ("no", "No"), ("unknown", "Unknown"))
    ]
    help_item = yn["item"][0]
    assert help_item["linkId"] == "yn.help"
    assert help_item["type"] == "display"
    assert help_item["text"] == "Say yes or no."
    assert help_item["extension"][0]["url"] == ITEM_CONTROL
    assert help_item["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "help"

    assert items["flag"] == {"linkId": "flag", "text": "Flag?", "type": "boolean", "required": True}

    single = items["single"]
    assert single["type"] == "choice"
    assert "repeats" not in single
    assert single["answerOption"][0]["valueCoding"] == {
        "system": option_system(BASE, "every-type", "single"),
        "version": "3",
        "code": "a",
        "display": "A",
    }
    assert "extension" not in single["answerOption"][1]  # exclusive only matters where several may be chosen

    multi = items["multi"]
    assert multi["repeats"] is True
    assert [o.get("extension") for o in multi["answerOption"]] == [
        None,
        None,
        [{"url": OPTION_EXCLUSIVE, "valueBoolean": True}],
    ]

    age = items["age"]
    assert age["type"] == "integer"
    assert age["required"] is True
    assert age["extension"] == [{"url": MIN_VALUE, "valueInteger": 0}, {"url": MAX_VALUE, "valueInteger": 17}]
    assert age["enableBehavior"] == "all"
    assert age["enableWhen"] == [
        {"question": "yn", "operator": "=", "answerCoding": yn["answerOption"][0]["valueCoding"]},
        {"question": "age.unknown", "operator": "!=", "answerBoolean": True},
    ]
    sibling = items["age.unknown"]
    assert sibling == {
        "linkId": "age.unknown",
        "text": "Not known",
        "type": "boolean",
        "enableWhen": [{"question": "yn", "operator": "=", "answerCoding": yn["answerOption"][0]["valueCoding"]}],
    }
    group_two = [i["linkId"] for i in exported["item"][1]["item"]]
    assert group_two == ["multi", "age", "age.unknown", "when", "when.unknown", "note"]  # the sibling right after

    assert items["when"]["type"] == "date"
    assert items["when"]["enableWhen"] == [{"question": "when.unknown", "operator": "!=", "answerBoolean": True}]
    assert items["note"] == {"linkId": "note", "text": "Note?", "type": "text", "maxLength": 50}


def test_statuses_and_the_rule_set_extension() -> None:
    questionnaire = parse_questionnaire(EVERY_TYPE)
    for ours, theirs in (("draft", "draft"), ("published", "active"), ("retired", "retired")):
        assert export_every_type(status=ours)["status"] == theirs
    exported = questionnaire_resource(
        questionnaire,
        item_requirements(questionnaire, {"note": "trigger 'x' reads it"}),
        base=BASE,
        status="published",
        required_by_ruleset=f"{BASE}/RuleSet/rules|4",
    )
    assert exported["extension"] == [{"url": REQUIRED_BY_RULESET, "valueCanonical": f"{BASE}/RuleSet/rules|4"}]
    assert {i["linkId"]: i for i in walk(exported["item"])}["note"]["required"] is True


# --- enableWhen against the engine ---------------------------------------------------------------------------------

AGREEMENT = {
    "key": "agreement",
    "version": 1,
    "title": "Agreement",
    "sections": [{"id": "s", "title": "S"}],
    "items": [
        {"id": "yn", "section": "s", "type": "yes_no_unknown", "question": "?"},
        {"id": "flag", "section": "s", "type": "boolean", "question": "?"},
        {"id": "single", "section": "s", "type": "single_choice", "question": "?",
         "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}, {"code": "c", "label": "C"},
                     {"code": "unknown", "label": "?"}]},
        {"id": "multi", "section": "s", "type": "multi_choice", "question": "?",
         "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}, {"code": "unknown", "label": "?"}]},
        {"id": "age", "section": "s", "type": "integer", "question": "?", "allow_unknown": True},
        {"id": "day", "section": "s", "type": "date", "question": "?", "allow_unknown": True},
        {"id": "note", "section": "s", "type": "text", "question": "?", "allow_unknown": True},
        {"id": "plain", "section": "s", "type": "text", "question": "?"},
        {"id": "since", "section": "s", "type": "date", "question": "?"},
    ],
}  # fmt: skip
AGREEMENT_Q = parse_questionnaire(AGREEMENT)
ITEMS = {item.id: item for item in AGREEMENT_Q.items}
DAYS = ["2020-02-29", "2021-02-28", "2021-03-01", "2024-02-28", "2024-02-29", "2024-03-01"]

answer_values: dict[str, Any] = {
    "yn": st.sampled_from(["yes", "no", "unknown"]),
    "flag": st.booleans(),
    "single": st.sampled_from(["a", "b", "c", "unknown"]),
    "multi": st.sampled_from([["a"], ["b"], ["a", "b"], ["unknown"]]),
    "age": st.one_of(st.integers(0, 4), st.just("unknown")),
    "day": st.one_of(st.sampled_from(DAYS), st.just("unknown")),
    "note": st.sampled_from(["x", "unknown"]),
    "plain": st.sampled_from(["x", "unknown"]),
    "since": st.sampled_from(DAYS),
}


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    """Answer conditions that pass the static checks, on every item type and operator."""
    presence = st.builds(
        lambda q, op: {"q": q, op: True}, st.sampled_from(sorted(ITEMS)), st.sampled_from(["answered", "unanswered"])
    )
    unknown = st.builds(
        lambda q: {"q": q, "is_unknown": True},
        st.sampled_from(["yn", "single", "multi", "age", "day", "note"]),
    )
    coded = st.one_of(
        st.builds(lambda op, v: {"q": "yn", op: v}, st.sampled_from(["eq", "ne"]), st.sampled_from(["yes", "no"])),
        st.builds(
            lambda op, v: {"q": "yn", op: v},
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from(["yes", "no"]), min_size=1, max_size=2, unique=True),
        ),
        st.builds(lambda op, v: {"q": "flag", op: v}, st.sampled_from(["eq", "ne"]), st.booleans()),
        st.builds(
            lambda op, v: {"q": "single", op: v}, st.sampled_from(["eq", "ne"]), st.sampled_from(["a", "b", "c"])
        ),
        st.builds(
            lambda op, v: {"q": "single", op: v},
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True),
        ),
        st.builds(lambda v: {"q": "multi", "contains": v}, st.sampled_from(["a", "b"])),
        st.builds(
            lambda v: {"q": "multi", "contains_any": v},
            st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2, unique=True),
        ),
    )
    ordered = st.one_of(
        st.builds(
            lambda op, v: {"q": "age", op: v},
            st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]),
            st.integers(0, 4),
        ),
        st.builds(
            lambda op, v: {"q": "age", op: v},
            st.sampled_from(["in", "not_in"]),
            st.lists(st.integers(0, 4), min_size=1, max_size=3, unique=True),
        ),
        st.builds(lambda a, b: {"q": "age", "between": [min(a, b), max(a, b)]}, st.integers(0, 4), st.integers(0, 4)),
        st.builds(
            lambda op, v: {"q": "day", op: v},
            st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]),
            st.sampled_from(DAYS),
        ),
        st.builds(lambda a, b: {"q": "day", "between": sorted([a, b])}, st.sampled_from(DAYS), st.sampled_from(DAYS)),
    )
    spans = st.sampled_from([("day", "since"), ("since", "day"), ("day", "day")])
    differences = st.builds(
        lambda unit, span, op, n: {f"{unit}_between": {"from": span[0], "to": span[1]}, op: n},
        st.sampled_from(["days", "years"]),
        spans,
        st.sampled_from(["eq", "lt", "lte", "gt", "gte"]),
        st.sampled_from([-1461, -365, -1, 0, 1, 2, 365, 366, 1095]),
    ) | st.builds(
        lambda unit, span, a, b: {
            f"{unit}_between": {"from": span[0], "to": span[1]},
            "between": [min(a, b), max(a, b)],
        },
        st.sampled_from(["days", "years"]),
        spans,
        st.integers(-4, 4),
        st.integers(-4, 4),
    )
    return st.one_of(presence, unknown, coded, ordered, differences)


def conditions() -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda part: {"not": part}, inner),
            st.builds(
                lambda k, parts: {"at_least": min(k, len(parts)), "of": parts},
                st.integers(1, 3),
                st.lists(inner, min_size=1, max_size=3),
            ),
        ),
        max_leaves=4,
    )  # fmt: skip


def response_items(answers: dict[str, Any], typed_unknown_text: bool, sibling_false: bool) -> dict[str, list[Any]]:
    """The QuestionnaireResponse answers by linkId for our answers, as a renderer records them: "unknown" of an
    integer, date or text item as its sibling ticked (or, for text, typed as the text "unknown")."""
    translator = Translator(ITEMS, BASE, AGREEMENT_Q.key, AGREEMENT_Q.version)
    out: dict[str, list[Any]] = {}
    for item_id, value in answers.items():
        item = ITEMS[item_id]
        if item.type in ("yes_no_unknown", "single_choice"):
            out[item_id] = [translator.coded(item, value)]  # type: ignore[arg-type]
        elif item.type == "multi_choice":
            out[item_id] = [translator.coded(item, code) for code in value]  # type: ignore[arg-type]
        elif (
            item_id in ("age", "day", "note") and value == "unknown" and not (item_id == "note" and typed_unknown_text)
        ):
            out[sibling_id(item_id)] = [True]
        else:
            out[item_id] = [value]
    if sibling_false:  # a renderer may record an unticked box as false
        for item_id in ("age", "day", "note"):
            out.setdefault(sibling_id(item_id), [False])
    return out


def r4_holds(atom: Atom, response: dict[str, list[Any]]) -> bool:
    """One enableWhen, as the R4 operator table has it (the R4B/R5 wording): `exists` compares whether there is an
    answer; `=` and the ordered operators hold when at least one answer compares so; `!=` when no answer equals."""
    answers = response.get(atom.question, [])
    if atom.operator == "exists":
        return bool(answers) == atom.answer
    if atom.operator == "=":
        return any(value == atom.answer for value in answers)
    if atom.operator == "!=":
        return not any(value == atom.answer for value in answers)
    compare = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    return any(compare[atom.operator](value, atom.answer) for value in answers)  # dates: ISO text compares as dates


def as_questionnaire_response(response: dict[str, list[Any]]) -> dict[str, Any]:
    """The answers as a QuestionnaireResponse, nested in a group as LHC-Forms nests them."""

    def value(link_id: str, answer: Any) -> dict[str, Any]:
        if isinstance(answer, Coded):
            return {"valueCoding": {"system": answer.system, "version": answer.version, "code": answer.code}}
        if isinstance(answer, bool):
            return {"valueBoolean": answer}
        if isinstance(answer, int):
            return {"valueInteger": answer}
        return {"valueDate": answer} if link_id in ("day", "since") else {"valueString": answer}

    items = [
        {"linkId": link_id, "answer": [value(link_id, answer) for answer in answers]}
        for link_id, answers in response.items()
    ]
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [{"linkId": "s.section", "item": items}],
    }


@functools.lru_cache(maxsize=256)
def compiled(expression: str) -> Any:
    return compile_fhirpath(expression, fhirpath_models["r4"])


def fhirpath_enabled(expression: str, response: dict[str, list[Any]]) -> bool:
    resource = as_questionnaire_response(response)
    result = compiled(expression)(resource, {"resource": resource})
    assert result in ([True], [False]), f"{expression} gave {result}: an enableWhenExpression must be true or false"
    return bool(result[0])


def r4_enabled(rule: EnableRule | None, response: dict[str, list[Any]]) -> bool:
    if rule is None:
        return True
    results = [r4_holds(atom, response) for atom in rule.whens]
    return all(results) if rule.behavior in (None, "all") else any(results)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    condition=conditions(),
    answers=st.fixed_dictionaries({}, optional=answer_values),
    typed_unknown_text=st.booleans(),
    sibling_false=st.booleans(),
    paired=st.booleans(),
)
def test_enable_when_agrees_with_the_engine(
    condition: dict[str, Any],
    answers: dict[str, Any],
    typed_unknown_text: bool,
    sibling_false: bool,
    paired: bool,
) -> None:
    target = {"id": "target", "section": "s", "type": "integer", "question": "?", "allow_unknown": paired}
    questionnaire = parse_questionnaire(
        {**AGREEMENT, "items": [*AGREEMENT["items"], {**target, "enable_when": condition}]}
    )
    assert not check_questionnaire(questionnaire)
    parsed = questionnaire.items[-1].enable_when
    assert parsed is not None
    translator = Translator({i.id: i for i in questionnaire.items}, BASE, "agreement", 1)
    rule = translator.rule(parsed, unknown_sibling_of="target" if paired else None)
    assert rule is not None
    response = response_items(answers, typed_unknown_text, sibling_false)
    expected = holds(parsed, answers, {})
    ticked = {**response, "target.unknown": [True]}
    if rule.expression is not None:
        assert translator.whens(parsed) is None or paired, "an expression only where no flat enableWhen exists"
        assert fhirpath_enabled(rule.expression, response) == expected
        if paired:
            assert fhirpath_enabled(rule.expression, ticked) is False
        return
    assert r4_enabled(rule, response) == expected
    if paired:
        assert r4_enabled(rule, ticked) is False  # the typed item is disabled while "Not known" is ticked


def test_expressions_read_as_the_engine() -> None:
    """What R4's flat list cannot say becomes an SDC enableWhenExpression; each is read here once."""
    translator = Translator(ITEMS, BASE, "agreement", 1)
    answers = "%resource.repeat(item).where(linkId = '{}').answer.value"

    def expression(condition: dict[str, Any]) -> str | None:
        parsed = parse_questionnaire(
            {**AGREEMENT, "items": [*AGREEMENT["items"], {"id": "t", "section": "s", "type": "boolean",
                                                          "question": "?", "enable_when": condition}]}
        ).items[-1].enable_when  # fmt: skip
        rule = translator.rule(parsed)
        assert rule is not None
        return rule.expression

    # a mix of all and any
    mixed = {"all": [{"q": "flag", "eq": True}, {"any": [{"q": "yn", "eq": "yes"}, {"q": "age", "gt": 2}]}]}
    assert expression(mixed) == (
        f"({answers.format('flag')}.where($this = true).exists()) and "
        f"(({answers.format('yn')}.where(code = 'yes').exists()) or "
        f"({answers.format('age')}.where($this > 2).exists()))"
    )
    # an ordered comparison under not: "no answer < 3" also holds on no answer, which `>=` does not
    assert expression({"not": {"q": "age", "lt": 3}}) == f"({answers.format('age')}.where($this < 3).exists()).not()"
    # at least 2 of 3
    two_of = expression(
        {"at_least": 2, "of": [{"q": "flag", "eq": True}, {"q": "yn", "eq": "no"}, {"q": "single", "eq": "a"}]}
    )
    assert two_of is not None
    assert two_of.startswith("(iif(")
    assert two_of.endswith(") >= 2")
    # a difference of dates (whole days: the end compared with the start moved by n days)
    assert expression({"days_between": {"from": "day", "to": "day"}, "gte": 3}) == (
        f"{answers.format('day')}.where($this >= ({answers.format('day')}.first() + 3 days)).exists()"
    )
    # an integer not in two values (below, between or above): one answer that is neither
    assert (
        expression({"q": "age", "not_in": [1, 3]})
        == f"{answers.format('age')}.where($this != 1 and $this != 3).exists()"
    )
    # `ne` on a choice is `=` over the remaining known options: a flat list, no expression
    assert expression({"q": "single", "ne": "a"}) is None


def test_the_expression_extension_is_the_sdc_one() -> None:
    rule = EnableRule(expression="true")
    assert rule.elements() == {
        "extension": [
            {"url": SDC_ENABLE_WHEN_EXPRESSION, "valueExpression": {"language": "text/fhirpath", "expression": "true"}}
        ]
    }


@pytest.mark.parametrize("unit", ["days", "years"])
def test_date_differences_as_fhirpath_count_as_the_engine(unit: str) -> None:
    """Every pair of dates around 29 February, both ways round: the expression and the engine agree."""
    days = ["2019-03-01", "2020-02-28", "2020-02-29", "2021-02-28", "2021-03-01", "2024-02-29", "2025-02-28"]
    for n in (-5, -1, 0, 1, 4, 365, 366):
        condition = {f"{unit}_between": {"from": "day", "to": "since"}, "gte": n}
        parsed = parse_questionnaire(
            {**AGREEMENT, "items": [*AGREEMENT["items"], {"id": "t", "section": "s", "type": "boolean",
                                                          "question": "?", "enable_when": condition}]}
        ).items[-1].enable_when  # fmt: skip
        assert parsed is not None
        expression = Translator(ITEMS, BASE, "agreement", 1).expression(parsed)
        outcomes = set()
        for first in days:
            for last in days:
                expected = holds(parsed, {"day": first, "since": last}, {})
                outcomes.add(expected)
                assert fhirpath_enabled(expression, {"day": [first], "since": [last]}) == expected, (first, last, n)
        assert fhirpath_enabled(expression, {"day": [days[0]]}) is False  # a date missing: false, as in the engine
        if n in (0, 1):
            assert outcomes == {True, False}


# --- the route -----------------------------------------------------------------------------------------------------


async def test_the_shipped_questionnaire_as_fhir(client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI) -> None:
    got = await client.get(SHIPPED, headers={**tenant.headers(Role.assessor), **FHIR})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == FHIR_JSON
    assert got.headers["vary"] == "Accept"
    body = got.json()
    FhirQuestionnaire.model_validate(body)
    assert body["url"] == "https://riskapi.org.uk/fhir/Questionnaire/online-exposure"
    assert body["version"] == "2"
    assert body["status"] == "active"
    assert body["extension"] == [
        {"url": REQUIRED_BY_RULESET, "valueCanonical": "https://riskapi.org.uk/fhir/RuleSet/online-harm-england|2"}
    ]
    etag = got.headers["etag"]
    assert etag.endswith('-fhir"')

    again = await client.get(SHIPPED, headers={**tenant.headers(Role.assessor), **FHIR, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert again.headers["vary"] == "Accept"
    assert again.content == b""

    as_json = await client.get(SHIPPED, headers={**tenant.headers(Role.assessor), "If-None-Match": etag})
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.headers["vary"] == "Accept"
    assert as_json.headers["etag"] != etag
    assert as_json.json()["document"]["key"] == "online-exposure"


@pytest.mark.parametrize("value", ["json", "application/fhir+json", "application/json"])
async def test_format_asks_for_fhir_as_fhir_tools_do(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI, value: str
) -> None:
    got = await client.get(SHIPPED, params={"_format": value}, headers=tenant.headers(Role.assessor))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == FHIR_JSON
    assert got.json()["resourceType"] == "Questionnaire"


async def test_format_of_another_representation_and_fhir_parameters_without_fhir_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI
) -> None:
    xml = await client.get(SHIPPED, params={"_format": "xml"}, headers=tenant.headers(Role.assessor))
    assert xml.status_code == 422
    assert xml.json()["errors"][0]["pointer"] == "/_format"
    stray = await client.get(
        SHIPPED, params={"ruleset_key": "online-harm-england"}, headers=tenant.headers(Role.assessor)
    )
    assert stray.status_code == 400
    assert stray.json()["errors"][0]["pointer"] == "/ruleset_key"


async def test_an_organisations_draft_has_canonicals_under_the_public_base_url_and_names_its_rule_set(
    client: httpx.AsyncClient, tenant: Tenant, seeded: FastAPI, app: FastAPI
) -> None:
    author = tenant.headers(Role.rule_author)
    created = await client.post(
        "/v1/questionnaires/check-in/versions", content=QUESTIONNAIRE_YAML, headers={**author, **YAML}
    )
    assert created.status_code == 201, created.text
    path = "/v1/questionnaires/check-in/versions/1"
    base = f"{app.state.settings.base_url.rstrip('/')}/fhir"

    alone = await client.get(path, headers={**tenant.headers(Role.assessor), **FHIR})
    assert alone.status_code == 200, alone.text
    body = alone.json()
    assert body["url"] == f"{base}/Questionnaire/check-in"
    assert body["status"] == "draft"
    assert "extension" not in body  # no rule set scores it yet: its own `required` only
    items = {i["linkId"]: i for i in walk(body["item"])}
    assert (
        items["screen_hours"]["answerOption"][0]["valueCoding"]["system"] == f"{base}/CodeSystem/check-in.screen_hours"
    )
    assert "required" not in items["shared_images"]

    rules = await client.post(
        "/v1/rulesets/check-in-rules/versions", content=ruleset_yaml("check-in"), headers={**author, **YAML}
    )
    assert rules.status_code == 201, rules.text
    named = await client.get(
        path,
        params={"ruleset_key": "check-in-rules", "ruleset_version": 1},
        headers={**tenant.headers(Role.assessor), **FHIR},
    )
    assert named.status_code == 200, named.text
    assert named.json()["extension"][0]["valueCanonical"] == f"{base}/RuleSet/check-in-rules|1"
    items = {i["linkId"]: i for i in walk(named.json()["item"])}
    assert items["shared_images"]["required"] is True  # the trigger reads it
    assert named.headers["etag"] != alone.headers["etag"]

    wrong = await client.get(
        "/v1/questionnaires/online-exposure/versions/2",
        params={"ruleset_key": "check-in-rules"},
        headers={**tenant.headers(Role.assessor), **FHIR},
    )
    assert wrong.status_code in (404, 422), wrong.text  # a rule set for another questionnaire (or unpublished)


async def test_another_organisations_questionnaire_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, seeded: FastAPI
) -> None:
    created = await client.post(
        "/v1/questionnaires/check-in/versions",
        content=QUESTIONNAIRE_YAML,
        headers={**other_tenant.headers(Role.rule_author), **YAML},
    )
    assert created.status_code == 201, created.text
    got = await client.get("/v1/questionnaires/check-in/versions/1", headers={**tenant.headers(Role.assessor), **FHIR})
    assert got.status_code == 404
