"""The use cases behind both the API and the pages, over PostgreSQL: record an incident,
append an action, store a file, import a roster, create a school. No HTTP here."""
