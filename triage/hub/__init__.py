"""The regional hub: every landing site's batches in one PostgreSQL database, searched across sites and
months, reviewed by several officers at once. Its dependencies are the optional extra `triage[hub]`."""
