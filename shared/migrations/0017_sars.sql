-- Subject access requests: a register with its clock, the staff a school names to handle
-- them, the third parties a review draft found and the handler's decisions about each.

-- Staff names in a SAR's export: replaced by "Staff member 1"... unless the school says not.
ALTER TABLE schools ADD COLUMN sar_redact_staff boolean NOT NULL DEFAULT true;

-- Besides elevated DSLs and SLT, the staff a school names as SAR handlers (who still elevate).
CREATE TABLE sar_handlers (
    school_id  uuid NOT NULL REFERENCES schools(id),
    staff_id   uuid NOT NULL REFERENCES staff(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (school_id, staff_id)
);

-- The due date is one calendar month from receipt (to the corresponding date, or the month's
-- last day when it has none), plus the extension's months, plus the days the clock was paused
-- (records.sars.due_on). `due_on` is that date as it stands, written with every change.
CREATE TABLE sars (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id        uuid NOT NULL REFERENCES schools(id),
    pupil_id         uuid NOT NULL REFERENCES pupils(id),
    requester        text NOT NULL CHECK (length(requester) BETWEEN 1 AND 200),
    relationship     text NOT NULL CHECK (length(relationship) BETWEEN 1 AND 100),
    received_on      date NOT NULL,
    recorded_by      uuid NOT NULL REFERENCES staff(id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    state            text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'paused')),
    extension_months smallint NOT NULL DEFAULT 0 CHECK (extension_months BETWEEN 0 AND 2),
    extension_reason text,
    paused_days      integer NOT NULL DEFAULT 0 CHECK (paused_days >= 0),
    paused_on        date,      -- the clock stopped on this day (state 'paused')
    pause_reason     text,
    due_on           date NOT NULL,
    -- Reminders to the handlers, each sent once: 7 days before, and on the due date.
    reminded_week_at timestamptz,
    reminded_due_at  timestamptz,
    CHECK ((state = 'paused') = (paused_on IS NOT NULL)),
    CHECK (extension_months = 0 OR extension_reason IS NOT NULL)
);
CREATE INDEX sars_open ON sars (school_id, due_on);
CREATE INDEX sars_reminders ON sars (due_on) WHERE state = 'open' AND reminded_due_at IS NULL;

-- The third parties a review draft found (other pupils, staff), each with the label it is
-- shown by ("Pupil A", "Staff member 1"): written by the draft, kept for the final, so the
-- labels the handler reviewed are the ones that go out.
CREATE TABLE sar_parties (
    sar_id           uuid NOT NULL REFERENCES sars(id),
    party_kind       text NOT NULL CHECK (party_kind IN ('pupil', 'staff')),
    party_id         uuid NOT NULL,
    label            text NOT NULL,
    redacted_by_default boolean NOT NULL,
    found            integer NOT NULL DEFAULT 0,  -- places it appears in the draft
    found_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sar_id, party_kind, party_id),
    UNIQUE (sar_id, label)
);

-- The handler's decisions, append-only: the newest per party is the one applied.
CREATE TABLE sar_decisions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   uuid NOT NULL REFERENCES schools(id),
    sar_id      uuid NOT NULL REFERENCES sars(id),
    party_kind  text NOT NULL CHECK (party_kind IN ('pupil', 'staff')),
    party_id    uuid NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('reveal', 'redact')),
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    decided_by  uuid NOT NULL REFERENCES staff(id),
    decided_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (sar_id, party_kind, party_id) REFERENCES sar_parties (sar_id, party_kind, party_id)
);
CREATE INDEX sar_decisions_party ON sar_decisions (sar_id, party_kind, party_id, id);
CREATE TRIGGER sar_decisions_append_only BEFORE UPDATE OR DELETE ON sar_decisions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- A SAR's exports (kind 'sar': params {"sar": id, "stage": "draft" | "final"}).
CREATE INDEX exports_sar ON exports ((params ->> 'sar')) WHERE kind = 'sar';
