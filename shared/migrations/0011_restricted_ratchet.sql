-- Moving an incident into a restricted category (an appended action and a row in
-- incident_category_moves) also makes the incident itself restricted, so every reader of
-- `incidents.restricted` (the access policy, the worker's audience and priority, escalation,
-- emails, the inbox) agrees. The one change the append-only trigger allows on an incident is
-- that ratchet, false to true; nothing else about it can ever change, and never back.
CREATE FUNCTION incidents_only_restrict() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NOT OLD.restricted AND NEW.restricted
       AND (to_jsonb(NEW) - 'restricted') = (to_jsonb(OLD) - 'restricted') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% on % is not allowed: records are append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER incidents_append_only ON incidents;
CREATE TRIGGER incidents_append_only BEFORE UPDATE OR DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_only_restrict();

-- Incidents moved before this migration.
UPDATE incidents i SET restricted = true
WHERE NOT i.restricted AND EXISTS (SELECT FROM incident_category_moves m WHERE m.incident_id = i.id);
