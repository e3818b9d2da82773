"""f4d.cli."""
