-- Worker: the escalation pass looks up recent events by kind and level every few seconds.
CREATE INDEX alert_events_kind_level_created ON alert_events (kind, level, created_at);
