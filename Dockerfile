# One image for every process kind of docs/scaling.md; compose.yaml runs the topology that
# tests/scale/test_topology.py tests. Not built or run on the project's machines (no container
# engine there); linted with hadolint. Needs a trained model: `make train` before the build.
FROM python:3.10-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HTS_ENV_FILE=/nonexistent/.env \
    BIND_HOST=0.0.0.0 \
    API_HOST=0.0.0.0

WORKDIR /app

# The same lock file as `make setup`: Rasa and everything else resolved together.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY . .
RUN useradd --create-home --uid 10001 hts \
    && mkdir -p var \
    && chown -R hts:hts var
USER 10001

# `backend process <kind>`: rasa | actions | web | scheduler | outbox (backend/supervisor.py)
ENTRYPOINT ["python", "-m", "backend", "process"]
CMD ["web"]
