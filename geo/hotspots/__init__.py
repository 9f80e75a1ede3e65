"""The hotspot engine."""
