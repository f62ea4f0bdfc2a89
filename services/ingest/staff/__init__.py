"""Staff identity: passwords, authenticator devices, sessions and their HTTP routes (issue 4)."""
