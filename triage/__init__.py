"""Offline capture, governed face matching and PND query drafting for landing-site officers."""
