-- Notifier (issue 3): the claim query walks each school's due alerts in priority order, so one
-- school's burst cannot starve another's (a LATERAL probe per school, then a per-school rank).
-- Kept to one index: every claim and every `sent` rewrites the row into all of alerts' indexes.
CREATE INDEX alerts_due_by_school ON alerts (school_id, priority DESC, queued_at)
    WHERE state IN ('queued', 'retrying');
