"""Calibration files, model manifests and the model card, shipped inside the package as `triage.models`."""
