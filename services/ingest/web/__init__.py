"""The staff pages: server-rendered HTML over the same records, access policy and audit as the
API. Templates and static files live beside the code."""
