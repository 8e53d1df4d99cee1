"""`python -m app.worker`: the same process as `riskapi worker`, without importing the web application."""

from app.core.config import get_settings
from app.worker.main import run

run(get_settings())
