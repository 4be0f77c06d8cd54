"""Typer command groups: each parses options, calls the core, and renders the result."""
