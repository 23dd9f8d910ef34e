# Slim runtime image for every newsworker role (migrate, worker, beat, metrics).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY newsworker ./newsworker
COPY config ./config
COPY stages ./stages
COPY storage ./storage
COPY tasks ./tasks
COPY worker ./worker
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    NEWSWORKER_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/newsworker-metrics
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && useradd --create-home --uid 10001 newsworker
USER newsworker
WORKDIR /home/newsworker
ENTRYPOINT []
CMD ["newsworker", "--help"]
