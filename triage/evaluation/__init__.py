"""How accurate the matcher is, measured on labelled photos (datasets, template cache, metrics,
calibration, fairness, plots), and the training scenarios that run the whole flow on fixture data."""
