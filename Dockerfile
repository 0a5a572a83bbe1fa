# The hookbus image: the controller (and the CLI, and plugin hosting) plus the static
# launcher that workload pods copy in through their init container.
#   docker build -t ghcr.io/hookbus/hookbus:0.1.0 .

# 1. The launcher: a static C program, so it runs in any image (no shell, no libc needed).
FROM debian:12-slim AS launcher
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev make \
 && rm -rf /var/lib/apt/lists/*
COPY launcher/ /src/launcher/
RUN make -C /src/launcher OUT=/out/hookbus-launcher

# 2. The hookbus wheel.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bus/ bus/
COPY controller/ controller/
COPY plugins/ plugins/
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

# 3. The runtime: hookbus and its dependencies (nats-server included), as a non-root user.
FROM python:3.11-slim
COPY --from=wheel /wheels/ /wheels/
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin hookbus
COPY --from=launcher /out/hookbus-launcher /usr/local/bin/hookbus-launcher
USER 65532:65532
ENTRYPOINT ["hookbus"]
CMD ["server"]
