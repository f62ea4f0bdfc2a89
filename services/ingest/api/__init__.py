"""The JSON API under /v1: views that parse a request, call services.ingest.records, and
answer JSON or problem+json. routes.py lists every endpoint."""
