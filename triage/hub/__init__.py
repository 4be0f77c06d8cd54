"""The regional hub: every landing site's batches in one PostgreSQL database, searched across sites and
months, reviewed by several officers at once. Its dependencies are the optional extra `triage[hub]`."""

from triage.store.placement import HUB_FILE as HUB_FILE

KEYS = "keys"  # the hub's key home, a folder of the hub's: its keys and the watchlist it searches
