# One image for every Beacon process; docker-compose.yml picks the subcommand
# (`beacon migrate|ingest|worker|notifier`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The worker renders exports: WeasyPrint needs Pango, and the PDFs use these fonts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
       fonts-dejavu fonts-liberation \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin beacon

# The services need no write access to the image; files go to PostgreSQL (or FILES_DIR).
USER beacon
ENTRYPOINT ["beacon"]
CMD ["--help"]
