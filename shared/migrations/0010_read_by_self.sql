-- Escalation stops only when a DSL or deputy DSL read the alert themselves (a session, or a
-- staff app's key acting for them); `read_at` stays the first time anyone marked it read.
ALTER TABLE alerts ADD COLUMN self_read_at timestamptz;
-- Reads recorded before this column existed cannot be told apart: keep their effect.
UPDATE alerts SET self_read_at = read_at WHERE read_at IS NOT NULL;
