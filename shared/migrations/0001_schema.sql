-- Beacon schema. Every row belongs to exactly one school (school_id), so trusts can run many
-- schools in one database and every query can be scoped. Incidents and everything recorded with
-- them are append-only: triggers refuse UPDATE, DELETE and TRUNCATE.

CREATE TABLE schools (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id   uuid NOT NULL REFERENCES schools(id),
    name        text NOT NULL,
    key_hash    bytea NOT NULL UNIQUE,  -- sha256 of the key; the key itself is shown once
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE staff (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id   uuid NOT NULL REFERENCES schools(id),
    external_id text NOT NULL,
    email       text NOT NULL,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    initials    text NOT NULL,
    roles       text[] NOT NULL DEFAULT '{}' CHECK (roles <@ ARRAY['teacher', 'teaching_assistant',
                    'slt', 'head', 'pastoral', 'dsl', 'deputy_dsl', 'admin']::text[]),
    active      boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (school_id, external_id)
);
CREATE UNIQUE INDEX staff_email ON staff (school_id, lower(email));
CREATE INDEX staff_roles ON staff USING gin (roles);

CREATE TABLE pupils (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id     uuid NOT NULL REFERENCES schools(id),
    external_id   text NOT NULL,
    first_name    text NOT NULL,
    last_name     text NOT NULL,
    date_of_birth date,
    active        boolean NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (school_id, external_id)
);

CREATE TABLE classes (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id   uuid NOT NULL REFERENCES schools(id),
    external_id text NOT NULL,
    name        text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (school_id, external_id)
);

CREATE TABLE class_teachers (
    school_id uuid NOT NULL REFERENCES schools(id),
    class_id  uuid NOT NULL REFERENCES classes(id),
    staff_id  uuid NOT NULL REFERENCES staff(id),
    PRIMARY KEY (class_id, staff_id)
);
CREATE INDEX class_teachers_staff ON class_teachers (staff_id);

CREATE TABLE pupil_classes (
    school_id uuid NOT NULL REFERENCES schools(id),
    pupil_id  uuid NOT NULL REFERENCES pupils(id),
    class_id  uuid NOT NULL REFERENCES classes(id),
    PRIMARY KEY (pupil_id, class_id)
);
CREATE INDEX pupil_classes_class ON pupil_classes (class_id);

-- Category templates: copied into each school when it is created (see seed_school()).
CREATE TABLE default_categories (
    slug        text PRIMARY KEY,
    name        text NOT NULL,
    parent_slug text REFERENCES default_categories(slug),
    restricted  boolean NOT NULL DEFAULT false
);

CREATE TABLE categories (
    school_id   uuid NOT NULL REFERENCES schools(id),
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*(/[a-z0-9]+(-[a-z0-9]+)*)?$'),
    name        text NOT NULL,
    parent_slug text,
    restricted  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (school_id, slug),
    FOREIGN KEY (school_id, parent_slug) REFERENCES categories(school_id, slug)
);

-- Rules are data: an event of `event_kind` whose categories (or their groups) include
-- `category_slug` (NULL: every event of that kind) alerts staff holding any of `roles`, and the
-- class teachers of the pupil and linked pupils when `class_teachers`. Need-to-know for
-- restricted incidents is enforced in code on top of these rules, not left to data.
CREATE TABLE alert_rules (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id      uuid NOT NULL REFERENCES schools(id),
    event_kind     text NOT NULL CHECK (event_kind IN ('incident', 'action')),
    category_slug  text,
    roles          text[] NOT NULL DEFAULT '{}',
    class_teachers boolean NOT NULL DEFAULT false,
    FOREIGN KEY (school_id, category_slug) REFERENCES categories(school_id, slug)
);
CREATE INDEX alert_rules_school ON alert_rules (school_id, event_kind);

CREATE TABLE incidents (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reference        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- short number staff can quote
    school_id        uuid NOT NULL REFERENCES schools(id),
    pupil_id         uuid NOT NULL REFERENCES pupils(id),
    author_id        uuid NOT NULL REFERENCES staff(id),
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    description      text NOT NULL,
    restricted       boolean NOT NULL,
    api_key_id       uuid REFERENCES api_keys(id),
    idempotency_key  text,
    request_hash     bytea,
    UNIQUE (school_id, idempotency_key)
);
CREATE INDEX incidents_pupil ON incidents (school_id, pupil_id, occurred_at);

CREATE TABLE incident_categories (
    school_id     uuid NOT NULL REFERENCES schools(id),
    incident_id   uuid NOT NULL REFERENCES incidents(id),
    category_slug text NOT NULL,
    PRIMARY KEY (incident_id, category_slug),
    FOREIGN KEY (school_id, category_slug) REFERENCES categories(school_id, slug)
);

CREATE TABLE incident_linked_pupils (
    school_id   uuid NOT NULL REFERENCES schools(id),
    incident_id uuid NOT NULL REFERENCES incidents(id),
    pupil_id    uuid NOT NULL REFERENCES pupils(id),
    PRIMARY KEY (incident_id, pupil_id)
);
CREATE INDEX incident_linked_pupils_pupil ON incident_linked_pupils (pupil_id);

CREATE TABLE incident_agencies (
    school_id   uuid NOT NULL REFERENCES schools(id),
    incident_id uuid NOT NULL REFERENCES incidents(id),
    position    smallint NOT NULL,
    agency      text NOT NULL,
    PRIMARY KEY (incident_id, position)
);

CREATE TABLE body_map_marks (
    school_id   uuid NOT NULL REFERENCES schools(id),
    incident_id uuid NOT NULL REFERENCES incidents(id),
    position    smallint NOT NULL,
    view        text NOT NULL CHECK (view IN ('front', 'back')),
    region      text NOT NULL,
    note        text NOT NULL DEFAULT '',
    PRIMARY KEY (incident_id, position)
);

CREATE TABLE incident_alert_staff (
    school_id   uuid NOT NULL REFERENCES schools(id),
    incident_id uuid NOT NULL REFERENCES incidents(id),
    staff_id    uuid NOT NULL REFERENCES staff(id),
    PRIMARY KEY (incident_id, staff_id)
);

CREATE TABLE incident_files (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id    uuid NOT NULL REFERENCES schools(id),
    incident_id  uuid NOT NULL REFERENCES incidents(id),
    uploaded_by  uuid NOT NULL REFERENCES staff(id),
    filename     text NOT NULL,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL,
    sha256       bytea NOT NULL,
    data         bytea,          -- NULL when stored under FILES_DIR (then `stored_path` is set)
    stored_path  text,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((data IS NULL) <> (stored_path IS NULL))
);
CREATE INDEX incident_files_incident ON incident_files (incident_id);

CREATE TABLE actions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id       uuid NOT NULL REFERENCES schools(id),
    incident_id     uuid NOT NULL REFERENCES incidents(id),
    author_id       uuid NOT NULL REFERENCES staff(id),
    description     text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    api_key_id      uuid REFERENCES api_keys(id),
    idempotency_key text,
    request_hash    bytea,
    UNIQUE (school_id, idempotency_key)
);
CREATE INDEX actions_incident ON actions (incident_id, recorded_at);

CREATE TABLE action_alert_staff (
    school_id uuid NOT NULL REFERENCES schools(id),
    action_id uuid NOT NULL REFERENCES actions(id),
    staff_id  uuid NOT NULL REFERENCES staff(id),
    PRIMARY KEY (action_id, staff_id)
);

-- Need-to-know: a person named on a restricted incident may see that incident alone.
CREATE TABLE incident_access_grants (
    school_id   uuid NOT NULL REFERENCES schools(id),
    incident_id uuid NOT NULL REFERENCES incidents(id),
    staff_id    uuid NOT NULL REFERENCES staff(id),
    reason      text NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, staff_id)
);

-- Outbox: written in the same transaction as the incident or action. The relay hands rows
-- with resolved_at IS NULL to arq again until the worker has resolved them.
CREATE TABLE alert_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id     uuid NOT NULL REFERENCES schools(id),
    kind          text NOT NULL CHECK (kind IN ('incident', 'action', 'escalation')),
    incident_id   uuid NOT NULL REFERENCES incidents(id),
    action_id     uuid REFERENCES actions(id),
    level         smallint NOT NULL DEFAULT 0,  -- escalation step (1 deputy DSLs, 2 head)
    priority      smallint NOT NULL DEFAULT 0,  -- 1: restricted/safeguarding, sent first
    created_at    timestamptz NOT NULL DEFAULT now(),
    enqueued_at   timestamptz,
    enqueue_count integer NOT NULL DEFAULT 0,
    resolved_at   timestamptz,
    CHECK ((kind = 'action') = (action_id IS NOT NULL))
);
CREATE INDEX alert_events_pending ON alert_events (created_at) WHERE resolved_at IS NULL;
CREATE UNIQUE INDEX alert_events_escalation ON alert_events (incident_id, level)
    WHERE kind = 'escalation';

-- One row per (event, recipient): a re-run of resolution creates nothing new.
CREATE TABLE alerts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id       uuid NOT NULL REFERENCES schools(id),
    event_id        bigint NOT NULL REFERENCES alert_events(id),
    incident_id     uuid NOT NULL REFERENCES incidents(id),
    recipient_id    uuid NOT NULL REFERENCES staff(id),
    priority        smallint NOT NULL DEFAULT 0,
    state           text NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'sending', 'sent', 'retrying', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    queued_at       timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    failed_at       timestamptz,
    read_at         timestamptz,
    actioned_at     timestamptz,
    error           text,
    UNIQUE (event_id, recipient_id)
);
CREATE INDEX alerts_due ON alerts (priority DESC, next_attempt_at)
    WHERE state IN ('queued', 'retrying');
CREATE INDEX alerts_leased ON alerts (lease_until) WHERE state = 'sending';
CREATE INDEX alerts_incident ON alerts (incident_id);
CREATE INDEX alerts_recipient ON alerts (recipient_id, read_at);

-- Append-only enforcement.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: records are append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['incidents', 'incident_categories', 'incident_linked_pupils',
        'incident_agencies', 'body_map_marks', 'incident_alert_staff', 'incident_files',
        'actions', 'action_alert_staff', 'incident_access_grants']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I
                        FOR EACH ROW EXECUTE FUNCTION refuse_change()', t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()',
                        t || '_no_truncate', t);
    END LOOP;
END;
$$;
