"""`make security`, dependency half: pip-audit on requirements-dev.lock, saying exactly what it could not check.

The dev lock is the runtime lock (what the Docker image installs) plus the test, lint and bench tools at the same
versions, so one audit covers both.

pip-audit asks a vulnerability service about each pinned version: PyPI's per-version JSON (default) or OSV.
Where neither answers (an offline or mirrored registry), nothing was audited; that is reported as such, never as
"no known vulnerabilities". It fails the build when a vulnerability is found, and also when the services are
unreachable if RISKAPI_AUDIT_REQUIRED=1 (set it where the network allows the audit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIP_AUDIT = Path(sys.executable).with_name("pip-audit")
LOCK_FILE = "requirements-dev.lock"


def audit(service: str) -> tuple[int, dict[str, object] | None, str]:
    command = [
        str(PIP_AUDIT), "-r", LOCK_FILE, "--no-deps", "--disable-pip", "--progress-spinner", "off",
        "--vulnerability-service", service, "--format", "json", "--timeout", "20",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    return done.returncode, report, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def main() -> int:
    failures: list[str] = []
    for service in ("pypi", "osv"):
        _code, report, last_error = audit(service)
        if report is None:
            failures.append(f"{service}: pip-audit produced no report ({last_error[:300]})")
            continue
        dependencies = report.get("dependencies", [])
        assert isinstance(dependencies, list)
        vulnerable = [d for d in dependencies if d.get("vulns")]
        skipped = [d for d in dependencies if d.get("skip_reason")]
        audited = len(dependencies) - len(skipped)
        if vulnerable:
            for dep in vulnerable:
                ids = ", ".join(v["id"] for v in dep["vulns"])
                print(f"VULNERABLE {dep['name']} {dep['version']}: {ids}")
            return 1
        if not skipped:
            print(f"pip-audit ({service}): {audited} pinned dependencies audited, no known vulnerabilities")
            return 0
        example = skipped[0]["skip_reason"]
        failures.append(f"{service}: {len(skipped)} of {len(dependencies)} dependencies not audited ({example})")
    print(f"pip-audit could NOT audit {LOCK_FILE}; nothing was checked:")
    for failure in failures:
        print(f"  - {failure}")
    if os.environ.get("RISKAPI_AUDIT_REQUIRED") == "1":
        return 1
    print("(not failing the build: set RISKAPI_AUDIT_REQUIRED=1 where the vulnerability services are reachable)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
