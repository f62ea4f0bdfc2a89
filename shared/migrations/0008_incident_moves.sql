-- Moving an incident into a restricted category (Safeguarding, SLT) after it was recorded.
-- Incidents are append-only, so the move is a row of its own, written with the action that
-- says so ("Moved into ..."); an incident with a move is restricted from then on
-- (shared.access reads `incidents.restricted OR EXISTS (a move)`).
CREATE TABLE incident_category_moves (
    school_id     uuid NOT NULL REFERENCES schools(id),
    incident_id   uuid NOT NULL REFERENCES incidents(id),
    category_slug text NOT NULL,
    action_id     uuid NOT NULL UNIQUE REFERENCES actions(id),
    moved_by      uuid NOT NULL REFERENCES staff(id),
    moved_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, action_id),
    FOREIGN KEY (school_id, category_slug) REFERENCES categories(school_id, slug)
);

CREATE TRIGGER incident_category_moves_append_only BEFORE UPDATE OR DELETE
    ON incident_category_moves FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER incident_category_moves_no_truncate BEFORE TRUNCATE
    ON incident_category_moves FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
