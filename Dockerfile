# syntax=docker/dockerfile:1
# Multi-stage image: dependencies are built in a throwaway stage; the runtime runs as a non-root user.
# Migrations are a separate command: `docker run IMAGE riskapi db upgrade`, then start the API.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.lock pyproject.toml README.md ./
RUN /opt/venv/bin/pip install --no-deps -r requirements.lock
COPY app ./app
COPY migrations ./migrations
COPY alembic.ini ./
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 riskapi \
    && useradd --system --uid 10001 --gid riskapi --home-dir /srv/riskapi --create-home riskapi
WORKDIR /srv/riskapi
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/migrations ./migrations
COPY --from=build /src/alembic.ini ./alembic.ini
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RISKAPI_ENVIRONMENT=production
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"]
CMD ["riskapi", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
