-- An Idempotency-Key belongs to its caller, not to the school: the API key that sent it, or,
-- for a staff session (no key), the member of staff recording. The same key from another
-- caller is another request, so no caller can fish for someone else's record by its key.
ALTER TABLE incidents DROP CONSTRAINT incidents_school_id_idempotency_key_key;
CREATE UNIQUE INDEX incidents_idempotency
    ON incidents (school_id, (coalesce(api_key_id, author_id)), idempotency_key);

ALTER TABLE actions DROP CONSTRAINT actions_school_id_idempotency_key_key;
CREATE UNIQUE INDEX actions_idempotency
    ON actions (school_id, (coalesce(api_key_id, author_id)), idempotency_key);
