"""The regional hub: every landing site's batches in one PostgreSQL database, searched across sites and
months, reviewed by several officers at once. Its dependencies are the optional extra `triage[hub]`."""

from triage.store.config import HUB_FILE as HUB_FILE
from triage.store.config import HUB_KEYS

KEYS = HUB_KEYS  # the hub's key home, a folder of its own in the hub's folder
