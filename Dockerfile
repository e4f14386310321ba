# orga-emulator: the emulator, and turn_stub from the same image (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY emulator ./emulator
COPY turn_stub ./turn_stub
COPY deploy/compose/turn-secret.sh /usr/local/bin/orga-turn-secret
# The secret directory is created owned by orga, so the named volume docker-compose.yml mounts
# there starts owned by orga too (Docker copies a new volume's ownership from the image).
RUN pip install ".[fast]" && useradd --create-home --uid 10001 orga \
    && install -d -o orga -g orga -m 700 /var/lib/orga-emulator/secret

USER orga

# Bind every interface inside the container; the port the healthcheck probes is the one the
# emulator reads (ORGA_EMULATOR_PORT), so overriding it keeps the two in step.
ENV ORGA_EMULATOR_HOST=0.0.0.0 \
    ORGA_EMULATOR_PORT=8787
EXPOSE 8787 3478/udp 3478/tcp

HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=5 \
    CMD ["python", "-m", "emulator.process.healthcheck"]

CMD ["orga-emulator"]
