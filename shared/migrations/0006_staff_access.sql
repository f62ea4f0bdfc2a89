-- Staff identity (issue 4): passwords, reset links, authenticator devices, per-school access
-- settings and the tamper-evident audit log. Login throttling and sessions live in Redis: they
-- are short-lived and must expire on their own.

-- One password per staff member; the argon2id encoded hash carries its own parameters and salt.
CREATE TABLE staff_credentials (
    staff_id        uuid PRIMARY KEY REFERENCES staff(id),
    school_id       uuid NOT NULL REFERENCES schools(id),
    password_hash   text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    password_set_at timestamptz NOT NULL DEFAULT now()
);

-- One-time links: only the sha256 of the token is stored, so a database read cannot reset.
CREATE TABLE password_reset_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    school_id   uuid NOT NULL REFERENCES schools(id),
    staff_id    uuid NOT NULL REFERENCES staff(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_reset_tokens_staff ON password_reset_tokens (staff_id, created_at);

-- Authenticator devices. `secret` is AES-GCM ciphertext (key from BEACON_SECRET_KEY) bound to
-- the school and staff ids; `last_used_step` makes each code single-use (guarded UPDATE).
-- A device is pending until confirmed with a first code; removal keeps the row for the audit.
CREATE TABLE totp_devices (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id      uuid NOT NULL REFERENCES schools(id),
    staff_id       uuid NOT NULL REFERENCES staff(id),
    name           text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    secret         bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    confirmed_at   timestamptz,
    last_used_step bigint,
    last_used_at   timestamptz,
    removed_at     timestamptz
);
CREATE INDEX totp_devices_staff ON totp_devices (staff_id) WHERE removed_at IS NULL;

-- Per-school access settings; a school without a row gets the defaults below.
CREATE TABLE school_access_settings (
    school_id            uuid PRIMARY KEY REFERENCES schools(id),
    password_policy      text NOT NULL DEFAULT 'school' CHECK (password_policy IN ('school', 'ncsc')),
    password_min_length  integer NOT NULL DEFAULT 8 CHECK (password_min_length BETWEEN 8 AND 64),
    totp_at_login        boolean NOT NULL DEFAULT false,
    -- NULL: BEACON_SESSION_IDLE_SECONDS applies.
    session_idle_seconds integer CHECK (session_idle_seconds BETWEEN 60 AND 86400),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Append-only audit log, hash-chained per school (school_id NULL: events with no school, such
-- as a failed login for an unknown address). seq counts 1, 2, 3... per chain so a deleted row
-- leaves a gap; hash = sha256(prev_hash || canonical JSON of the entry).
CREATE TABLE audit_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id        uuid REFERENCES schools(id),
    seq              bigint NOT NULL CHECK (seq >= 1),
    at               timestamptz NOT NULL,
    actor_staff_id   uuid REFERENCES staff(id),
    actor_api_key_id uuid REFERENCES api_keys(id),
    action           text NOT NULL,
    subject_type     text,
    subject_id       text,
    ip               inet,
    detail           jsonb NOT NULL DEFAULT '{}',
    prev_hash        bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash             bytea NOT NULL CHECK (length(hash) = 32),
    UNIQUE NULLS NOT DISTINCT (school_id, seq)
);
CREATE INDEX audit_log_subject ON audit_log (school_id, subject_type, subject_id);
CREATE INDEX audit_log_actor ON audit_log (actor_staff_id, at);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The head of each chain, written in the same transaction as each entry, so that deleting the
-- newest rows (which leaves no gap behind) is detected too.
CREATE TABLE audit_heads (
    school_id uuid REFERENCES schools(id),
    seq       bigint NOT NULL,
    hash      bytea NOT NULL,
    UNIQUE NULLS NOT DISTINCT (school_id)
);
