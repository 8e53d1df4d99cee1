"""FHIR R4 (as UK Core uses it) in and out, with the R4B models of `fhir.resources` (docs/fhir.md, ADR 0016).

- `canonical`: the canonical URLs of questionnaires, rule sets and CodeSystems (shipped content under one fixed base,
  an organisation's own under RISKAPI_PUBLIC_BASE_URL) and the linkIds of exported items.
- `media`: content negotiation (`Accept: application/fhir+json` or `_format`), FHIR responses with `Vary: Accept`
  and an ETag per representation.
- `questionnaire`, `codesystems`: a questionnaire version as a FHIR Questionnaire, and the CodeSystems it draws on.
- `response`: answers to and from a QuestionnaireResponse (the create body dependency parses through it).
- `risk_assessment`: a stored assessment as a RiskAssessment.
- `outcome`: problems as an OperationOutcome.
- `router`: the canonical resolution searches under /v1/fhir.
"""
