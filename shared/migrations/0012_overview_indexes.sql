-- The safeguarding overview: failed alerts of a school, newest first, and a school's
-- incidents newest first (incidents with no action yet).
CREATE INDEX alerts_failed ON alerts (school_id, failed_at DESC) WHERE state = 'failed';
CREATE INDEX incidents_recorded ON incidents (school_id, recorded_at DESC);
