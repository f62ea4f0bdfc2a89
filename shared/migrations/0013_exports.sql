-- Exports: every report or export is a row and a worker job (`export:{id}`). The row says who
-- asked for what and when, how far the worker has got, and holds the file (in PostgreSQL, or
-- under FILES_DIR as incident_files does) until it expires: then the file goes and the row
-- stays, so the register of what left the building outlives the file itself.
CREATE TABLE exports (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id     uuid NOT NULL REFERENCES schools(id),
    requested_by  uuid NOT NULL REFERENCES staff(id),
    kind          text NOT NULL CHECK (kind IN ('chronology', 'governors', 'ofsted', 'sar')),
    -- The pupil a chronology (or a subject access request) is about; NULL for school reports.
    pupil_id      uuid REFERENCES pupils(id),
    -- What to put in it: range, categories, chosen entries, staff names (a SAR: its stage).
    params        jsonb NOT NULL DEFAULT '{}',
    format        text NOT NULL CHECK (format IN ('pdf', 'csv')),
    state         text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'done', 'failed', 'expired')),
    progress      smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    attempts      integer NOT NULL DEFAULT 0,
    lease_until   timestamptz,  -- a running export whose worker died is taken again after it
    error         text,
    filename      text,
    content_type  text,
    size_bytes    bigint,
    sha256        bytea,
    data          bytea,        -- NULL when stored under FILES_DIR (then `stored_path` is set)
    stored_path   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    expires_at    timestamptz,
    emailed_at    timestamptz,
    downloaded_at timestamptz,  -- the first download
    download_count integer NOT NULL DEFAULT 0,
    expired_at    timestamptz,
    CHECK ((kind IN ('chronology', 'sar')) = (pupil_id IS NOT NULL)),
    CHECK (data IS NULL OR stored_path IS NULL),
    CHECK (state <> 'done' OR (data IS NOT NULL OR stored_path IS NOT NULL)),
    CHECK (state <> 'expired' OR (data IS NULL AND stored_path IS NULL))
);
CREATE INDEX exports_school ON exports (school_id, created_at DESC);
-- The worker's passes: files past their time, and work Redis may have lost.
CREATE INDEX exports_expiring ON exports (expires_at) WHERE state = 'done';
CREATE INDEX exports_unfinished ON exports (created_at) WHERE state IN ('queued', 'running');
