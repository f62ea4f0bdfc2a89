-- A school runs its own categories and school day.
--
-- Categories: a school adds its own (`custom`), retires one (kept on old incidents, offered
-- and accepted no more) and gives any an email-safe name, used in alert emails instead of its
-- real name (NULL: the real name; for a restricted incident, the group's).
ALTER TABLE categories
    ADD COLUMN email_name text CHECK (email_name IS NULL OR length(email_name) BETWEEN 1 AND 100),
    ADD COLUMN retired_at timestamptz,
    ADD COLUMN custom boolean NOT NULL DEFAULT false;

-- The school day: its nation (for bank holidays), when the day starts and ends (Europe/London
-- wall time), term dates and INSET days. No row, or no terms: every weekday but the nation's
-- bank holidays; no hours yet (an iCalendar import before the day was set): escalation counts
-- wall time.
CREATE TABLE school_calendars (
    school_id  uuid PRIMARY KEY REFERENCES schools(id),
    nation     text NOT NULL CHECK (nation IN ('england', 'wales', 'scotland', 'northern-ireland')),
    day_starts time,
    day_ends   time,
    terms      daterange[] NOT NULL DEFAULT '{}',
    inset_days date[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((day_starts IS NULL) = (day_ends IS NULL) AND day_ends > day_starts)
);
