"""Use cases: each owns its transaction. Routes, pages, the CLI and the scheduler call these."""
