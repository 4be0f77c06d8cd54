"""The home: a SQLite store whose personal fields and templates are sealed under a data key that only
the passphrase unwraps; migrations, the audit chain and the home's config. The bottom layer with intake:
it imports nothing of triage but errors, files and workers."""
