"""What a person takes away: PND query drafts, intelligence report drafts and the supervisor's day
report, with their templates and JSON schemas. Nothing here is ever transmitted."""
