"""The worker's alert rules: the pure rule function lives in shared.rules, so the admin pages'
preview (ingest) runs the very function the worker resolves events with."""

from shared.rules import ESCALATION_ROLES, Audience, Rule, audience, event_audience

__all__ = ["ESCALATION_ROLES", "Audience", "Rule", "audience", "event_audience"]
