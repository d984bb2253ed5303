# Tether broker: slim, non-root, data in /data, health checked over HTTP.
#   docker build -t tether .
#   docker run -p 8080:8080 -v tether-data:/data -e BROKER_KEY='myapp.key1:a-long-secret' tether
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY broker ./broker
COPY client ./client
# Runtime dependencies only, at the lockfile's versions.
RUN pip install -c requirements.lock . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tether \
    && mkdir -p /data && chown tether /data

USER tether
VOLUME ["/data"]
EXPOSE 8080
ENV BROKER_HOST=0.0.0.0 BROKER_PORT=8080 BROKER_DB=/data/broker.db
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"BROKER_PORT\", \"8080\")}/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "broker"]
