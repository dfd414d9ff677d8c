"""Hostile-input corpus and fuzz runner for the loader (issue 16); see run.py."""
