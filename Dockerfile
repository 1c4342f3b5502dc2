# syntax=docker/dockerfile:1
# One image for every process: `bpo serve` (default), `bpo worker`, `bpo scheduler`, `bpo migrate`,
# `bpo tenants create …`. Configuration comes from BPO_* environment variables (see README.md).

FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Compilers only for dependencies without a wheel for this platform; they stay in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -c constraints.txt .


FROM python:3.11-slim AS runtime

# BPO_HOST: `bpo serve` without --host must still be reachable from outside the container.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BPO_HOST=0.0.0.0

# PDFs (WeasyPrint): Pango, HarfBuzz to subset fonts, Noto Sans CJK for Japanese (embedded in each PDF).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 bpo \
    && useradd --system --uid 10001 --gid bpo --home-dir /app --no-create-home --shell /usr/sbin/nologin bpo \
    && mkdir /app \
    && chown bpo:bpo /app

COPY --from=builder /opt/venv /opt/venv

# The working directory holds BPO_DATA_DIR (.bpo) when a command needs local state, and the tenant
# manifests: `bpo tenants apply tenants/demo.yaml` loads the demo operator.
WORKDIR /app
COPY tenants ./tenants
USER bpo

EXPOSE 8000

# Liveness of the API process; worker, scheduler and migrate containers turn this off (compose.yaml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

ENTRYPOINT ["bpo"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
