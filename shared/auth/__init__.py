"""Identity: who is calling and what they have proved.

api_keys (a school's integration keys, the platform admin token), caller (a request's API key
or staff session, and the viewer the access policy judges), sessions (server-side, with CSRF),
passwords, totp (authenticator devices), throttle (login guessing), accounts (the staff
credential rows), state (what an app keeps for all of these).
"""
