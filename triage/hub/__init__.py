"""The regional hub: every landing site's batches in one PostgreSQL database, searched across sites and
months, reviewed by several officers at once. Its dependencies are the optional extra `triage[hub]`."""

HUB_FILE = "hub.json"  # in the hub's folder: which database it uses
KEYS = "keys"  # the hub's key home, a folder of the hub's: its keys and the watchlist it searches
