-- Schools run themselves: trusts and their central teams, staff made outside the roster (a
-- school's first admin), and privileged roles waiting for a second person's confirmation.

CREATE TABLE trusts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A school belongs to at most one trust.
ALTER TABLE schools ADD COLUMN trust_id uuid REFERENCES trusts(id);
CREATE INDEX schools_trust ON schools (trust_id) WHERE trust_id IS NOT NULL;

-- A trust's central team: staff of one of its schools who administer all of them.
CREATE TABLE trust_admins (
    trust_id   uuid NOT NULL REFERENCES trusts(id),
    staff_id   uuid NOT NULL REFERENCES staff(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trust_id, staff_id)
);
CREATE INDEX trust_admins_staff ON trust_admins (staff_id);

-- A member of staff the roster does not own (the first admin, made with the school): the
-- roster's leavers step leaves them alone until a roster row with their email adopts them.
ALTER TABLE staff ADD COLUMN outside_roster boolean NOT NULL DEFAULT false;

-- A privileged role newly given to someone once the school has a head or a DSL: it waits
-- here, not in staff.roles, until the head or a DSL confirms it (or declines it).
CREATE TABLE pending_roles (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    school_id      uuid NOT NULL REFERENCES schools(id),
    staff_id       uuid NOT NULL REFERENCES staff(id),
    role           text NOT NULL CHECK (role IN ('head', 'slt', 'dsl', 'deputy_dsl', 'pastoral')),
    requested_at   timestamptz NOT NULL DEFAULT now(),
    requested_by   text NOT NULL CHECK (requested_by IN ('platform', 'session', 'api_key')),
    requester_id   uuid REFERENCES staff(id),
    decided_at     timestamptz,
    decision       text CHECK (decision IN ('confirmed', 'declined', 'withdrawn')),
    decided_by     uuid REFERENCES staff(id),
    CHECK ((decided_at IS NULL) = (decision IS NULL))
);
CREATE UNIQUE INDEX pending_roles_open ON pending_roles (staff_id, role) WHERE decided_at IS NULL;
CREATE INDEX pending_roles_school ON pending_roles (school_id) WHERE decided_at IS NULL;

-- Last sign-in, and the admin changes listed newest first.
CREATE INDEX audit_log_logins ON audit_log (actor_staff_id, at) WHERE action = 'login.success';
CREATE INDEX audit_log_admin ON audit_log (school_id, seq) WHERE action LIKE 'admin.%';
