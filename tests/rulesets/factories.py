"""Small authored content for the API tests: an organisation's own questionnaire and rule set, as YAML."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import FastAPI

from app.rulesets.seed import seed_default_content

QUESTIONNAIRE_YAML = """\
title: "School online-safety check-in"
sections:
  - {id: about, title: "About the child"}
  - {id: online, title: "Online"}
items:
  - {id: child_age_years, section: about, type: integer, question: "Child's age in years", required: true,
     min: 0, max: 17}
  - {id: contact_stranger, section: online, type: yes_no_unknown, question: "Talks to someone unknown online?",
     required: true}
  - {id: shared_images, section: online, type: yes_no_unknown, question: "Has shared images of themself?"}
  - {id: screen_hours, section: online, type: single_choice, question: "Daily screen time",
     options: [{code: low, label: "Under 2 hours"}, {code: mid, label: "2-5 hours"}, {code: high, label: "Over 5"}]}
"""


def ruleset_yaml(questionnaire_key: str, *, stranger_points: int = 2, expected_stranger_level: str = "medium") -> str:
    return f"""\
title: "Check-in rules"
questionnaire: {{key: {questionnaire_key}, version: 1}}
levels: [low, medium, high]
disclaimer: "This result supports, and does not replace, professional judgement."
monotone: true
risk_order:
  child_age_years: falling
  screen_hours: [low, mid, high]
actions:
  - {{id: talk, title: "Talk with the child", who: "teacher", urgency: within_week}}
  - {{id: refer, title: "Refer to the safeguarding lead", who: "teacher", urgency: same_day}}
scores:
  - id: total
    title: "Total"
    terms:
      - {{id: stranger, when: {{q: contact_stranger, eq: "yes"}}, add: {stranger_points}, reason: "Talks to a stranger",
         source: "S1"}}
      - {{id: screens, q: screen_hours, points: {{mid: 1, high: 2}}, reason: "Long screen time", source: "S2"}}
bands:
  - {{score: total, gte: 0, lt: 2, level: low, reason: "Low total", source: "S3"}}
  - {{score: total, gte: 2, lt: 4, level: medium, reason: "Medium total", source: "S3", actions: [talk]}}
  - {{score: total, gte: 4, level: high, reason: "High total", source: "S3", actions: [refer]}}
triggers:
  - {{id: young_images, title: "Young child sharing images",
     when: {{all: [{{q: child_age_years, lt: 13}}, {{q: shared_images, eq: "yes"}}]}},
     level: high, reason: "A child under 13 shared images", source: "S4", actions: [refer]}}
tests:
  - name: "nothing reported"
    answers: {{child_age_years: 14, contact_stranger: "no", shared_images: "no"}}
    expect: {{level: low, triggers: []}}
  - name: "stranger contact"
    answers: {{child_age_years: 14, contact_stranger: "yes", shared_images: "no"}}
    expect: {{level: {expected_stranger_level}}}
  - name: "young child sharing images"
    answers: {{child_age_years: 11, contact_stranger: "no", shared_images: "yes"}}
    expect: {{level: high, triggers: [young_images]}}
"""


def as_dict(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def seed(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)


YAML = {"Content-Type": "application/yaml"}
PROBLEM = "application/problem+json"
