"""f4d.ops."""
