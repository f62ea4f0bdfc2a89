-- An API key holds scopes (what it may do) and, optionally, the staff it may post as. Keys
-- made before scopes existed keep what every key could then rightly do: post incidents and
-- read back their own, with their alerts. `alerts:staff`, `restricted` and `roster:write` are
-- granted only by creating a key with them.
ALTER TABLE api_keys
    ADD COLUMN scopes text[] NOT NULL
        DEFAULT ARRAY['incidents:write', 'incidents:read', 'alerts:read']::text[]
        CHECK (scopes <@ ARRAY['incidents:write', 'incidents:read', 'alerts:read',
                               'alerts:staff', 'restricted', 'roster:write']::text[]),
    ADD COLUMN authors text[];  -- staff external ids it may post as; NULL: any member

CREATE INDEX api_keys_school ON api_keys (school_id, created_at);

-- Which key uploaded a file, so a key reads back only its own uploads (as with actions).
ALTER TABLE incident_files ADD COLUMN api_key_id uuid REFERENCES api_keys(id);
