-- Default categories (DOMAIN.md) and default alert rules, copied into each new school by
-- seed_school(). tests/test_domain.py checks these slugs against shared.domain.slugify.
INSERT INTO default_categories (slug, name, parent_slug, restricted) VALUES
    ('attendance', 'Attendance', NULL, false),
    ('attendance/early-help', 'Early Help', 'attendance', false),
    ('attendance/internal-monitoring', 'Internal monitoring', 'attendance', false),
    ('attendance/pn', 'PN', 'attendance', false),
    ('attendance/pn-fine', 'PN fine', 'attendance', false),
    ('attendance/punctuality', 'Punctuality', 'attendance', false),
    ('attendance/school-meeting', 'School meeting', 'attendance', false),
    ('behaviour', 'Behaviour', NULL, false),
    ('behaviour/negative-behaviour', 'Negative behaviour', 'behaviour', false),
    ('behaviour/positive-behaviour', 'Positive behaviour', 'behaviour', false),
    ('behaviour/team-teach-restraint-used', 'Team teach (restraint used)', 'behaviour', false),
    ('cause-for-concern', 'Cause for concern', NULL, false),
    ('cause-for-concern/every-child', 'Every child', 'cause-for-concern', false),
    ('cause-for-concern/injury-bruise', 'Injury/Bruise', 'cause-for-concern', false),
    ('cause-for-concern/child-on-child-abuse', 'Child on Child Abuse', 'cause-for-concern', false),
    ('cause-for-concern/mental-health', 'Mental Health', 'cause-for-concern', false),
    ('cause-for-concern/safeguarding-disclosure', 'Safeguarding disclosure', 'cause-for-concern', false),
    ('cause-for-concern/sexualised-comments', 'Sexualised comments', 'cause-for-concern', false),
    ('parent-contact', 'Parent contact', NULL, false),
    ('parent-contact/dojo-text', 'Dojo text', 'parent-contact', false),
    ('parent-contact/email', 'Email', 'parent-contact', false),
    ('parent-contact/face-to-face-conversation', 'Face-to-face conversation', 'parent-contact', false),
    ('parent-contact/meeting', 'Meeting', 'parent-contact', false),
    ('parent-contact/mental-health', 'Mental Health', 'parent-contact', false),
    ('parent-contact/phone-call', 'Phone call', 'parent-contact', false),
    ('parent-contact/text', 'Text', 'parent-contact', false),
    ('slt', 'SLT', NULL, true),
    ('safeguarding', 'Safeguarding', NULL, true),
    ('safeguarding/cin-notes', 'CIN notes', 'safeguarding', true),
    ('safeguarding/cla', 'CLA', 'safeguarding', true),
    ('safeguarding/cla-review-pep', 'CLA review/PEP', 'safeguarding', true),
    ('safeguarding/cp-conference', 'CP Conference', 'safeguarding', true),
    ('safeguarding/cp-plan', 'CP plan', 'safeguarding', true),
    ('safeguarding/early-help-assessment-review', 'Early Help assessment/review', 'safeguarding', true),
    ('safeguarding/operation-encompass', 'Operation Encompass', 'safeguarding', true),
    ('safeguarding/professional-referral', 'Professional Referral', 'safeguarding', true),
    ('safeguarding/social-care-communication', 'Social care communication', 'safeguarding', true),
    ('safeguarding/early-help-service-communication', 'Early help service communication', 'safeguarding', true),
    ('safeguarding/strategy-meeting', 'Strategy meeting', 'safeguarding', true),
    ('sen', 'SEN', NULL, false),
    ('sen/1-1-support', '1:1 support', 'sen', false),
    ('sen/hln', 'HLN', 'sen', false),
    ('sen/intervention', 'Intervention', 'sen', false),
    ('sen/lln', 'LLN', 'sen', false),
    ('sen/observation', 'Observation', 'sen', false),
    ('sen/plan-do-review', 'Plan do review', 'sen', false);

-- Default rules (DOMAIN.md "Alerts"): every incident alerts SLT (head included), pastoral and
-- the pupil's class teachers; restricted incidents are cut down to privileged roles in code and
-- the safeguarding/SLT rules add the DSLs; every action alerts SLT and pastoral.
CREATE TABLE default_alert_rules (
    event_kind     text NOT NULL,
    category_slug  text REFERENCES default_categories(slug),
    roles          text[] NOT NULL,
    class_teachers boolean NOT NULL
);
INSERT INTO default_alert_rules VALUES
    ('incident', NULL, ARRAY['slt', 'head', 'pastoral'], true),
    ('incident', 'safeguarding', ARRAY['slt', 'head', 'pastoral', 'dsl', 'deputy_dsl'], false),
    ('incident', 'slt', ARRAY['slt', 'head', 'pastoral', 'dsl', 'deputy_dsl'], false),
    ('action', NULL, ARRAY['slt', 'head', 'pastoral'], false);

CREATE FUNCTION seed_school(target uuid) RETURNS void LANGUAGE sql AS $$
    INSERT INTO categories (school_id, slug, name, parent_slug, restricted)
        SELECT target, slug, name, parent_slug, restricted FROM default_categories
        ORDER BY parent_slug NULLS FIRST
        ON CONFLICT DO NOTHING;
    INSERT INTO alert_rules (school_id, event_kind, category_slug, roles, class_teachers)
        SELECT target, event_kind, category_slug, roles, class_teachers FROM default_alert_rules;
$$;
