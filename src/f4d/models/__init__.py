"""f4d.models."""
