"""Exports: the worker makes every report and export a person asks for.

ingest records the row (queued) --export(id)--> jobs.run_export
    rows.claim (running, leased) -> chronology | governors | ofsted: load, then
    pdf (WeasyPrint, data: URLs only) or csv -> store (PostgreSQL or FILES_DIR)
    -> rows.finish (done, expires_at) -> ready_email ("your export is ready": a link)
passes.py, beside the relay: expire files past EXPORT_RETENTION_DAYS (the row stays),
    ring again for exports Redis lost, fail those out of attempts, resend ready emails.
"""
