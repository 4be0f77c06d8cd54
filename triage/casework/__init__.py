"""The officer's work on one home: arrivals and their candidates, review decisions, the governed
watchlist, vessels, debriefs, crime groups, referrals, retention, and capture from a manifest."""
