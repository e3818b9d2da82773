"""f4d.engine."""
