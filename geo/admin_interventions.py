"""Interventions in the admin."""
