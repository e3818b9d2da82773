"""f4d.data."""
