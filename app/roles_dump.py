"""Print docs/roles.md (`make docs` writes it): the grants of app/auth/permissions.py with every endpoint of the app.

It lives here, beside app.openapi_dump, because listing the endpoints needs the assembled app, which app.auth
must not import.
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.auth import roles_doc
from app.core.config import Settings
from app.main import create_app


def roles_text() -> str:
    app = create_app(Settings(database_url="sqlite:///:memory:", rate_limit_per_minute=0))
    try:
        return roles_doc.render(roles_doc.endpoints(app.routes))
    finally:
        app.state.engine.dispose()


def main(argv: list[str]) -> None:
    """`python -m app.roles_dump [PATH]`: write the Markdown to PATH, or to standard output."""
    text = roles_text()
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
