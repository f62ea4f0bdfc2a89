-- Notifier (issue 3): the claim query walks each school's due alerts in priority order, so one
-- school's burst cannot starve another's (a LATERAL probe per school, then a per-school rank).
CREATE INDEX alerts_due_by_school ON alerts (school_id, priority DESC, queued_at)
    WHERE state IN ('queued', 'retrying');
-- The staff view lists a person's alerts unread first, newest first.
CREATE INDEX alerts_recipient_queued ON alerts (recipient_id, queued_at DESC);
