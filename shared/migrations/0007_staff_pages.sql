-- The staff pages: "My alerts" lists a person's alerts unread first, then newest. This index
-- serves the order and the page, so a head with 20,000 alerts pays what a teacher with 5 does.
CREATE INDEX alerts_inbox ON alerts (recipient_id, (read_at IS NOT NULL), queued_at DESC, id);
-- Pupil search by name on the record-a-concern and pupils pages.
CREATE INDEX pupils_name ON pupils (school_id, lower(last_name), lower(first_name));
