"""Production-shape tests: several processes on PostgreSQL, crashes (issue 6)."""
