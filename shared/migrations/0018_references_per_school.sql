-- Incident references are numbered per school from here on. A global identity told every
-- school how many incidents all the others had recorded between two of its own. References
-- already given stay as they are (staff may have quoted them); each school's next one follows
-- its own highest. UNIQUE (school_id, reference) replaces the global uniqueness.
CREATE TABLE school_counters (
    school_id      uuid PRIMARY KEY REFERENCES schools(id),
    next_reference bigint NOT NULL CHECK (next_reference > 0)
);
INSERT INTO school_counters (school_id, next_reference)
SELECT s.id, coalesce(max(i.reference), 0) + 1
FROM schools s LEFT JOIN incidents i ON i.school_id = s.id
GROUP BY s.id;

ALTER TABLE incidents ALTER COLUMN reference DROP IDENTITY;
ALTER TABLE incidents DROP CONSTRAINT incidents_reference_key;
ALTER TABLE incidents ADD CONSTRAINT incidents_school_reference_key UNIQUE (school_id, reference);

-- The recording statement (services/ingest/records/incidents.py) takes its number from the
-- counter itself; any other insert that names no reference (a school created after this
-- migration has no counter row until its first incident) is numbered here, the same way.
CREATE FUNCTION next_incident_reference() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO school_counters AS c (school_id, next_reference) VALUES (NEW.school_id, 2)
    ON CONFLICT (school_id) DO UPDATE SET next_reference = c.next_reference + 1
    RETURNING c.next_reference - 1 INTO NEW.reference;
    RETURN NEW;
END $$;
CREATE TRIGGER incidents_reference BEFORE INSERT ON incidents FOR EACH ROW
    WHEN (NEW.reference IS NULL) EXECUTE FUNCTION next_incident_reference();
