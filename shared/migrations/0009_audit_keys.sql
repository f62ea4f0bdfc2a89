-- Each audit entry's HMAC, keyed by a secret that is not in the database (BEACON_AUDIT_KEY, or
-- one derived from BEACON_SECRET_KEY), under the id of that key. Someone who owns the database
-- can still delete rows and re-hash the rest, but cannot make MACs for what they re-hashed.
-- Entries written before this migration have neither and are checked by their hash alone;
-- an entry without a MAC after a chain's first keyed entry is reported as "unkeyed".
ALTER TABLE audit_log
    ADD COLUMN key_id text CHECK (length(key_id) BETWEEN 1 AND 40),
    ADD COLUMN mac    bytea CHECK (length(mac) = 32),
    ADD CONSTRAINT audit_log_mac_has_key CHECK ((key_id IS NULL) = (mac IS NULL));
