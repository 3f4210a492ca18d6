"""Settings every test process shares.

The test worlds issue their API tokens at a fixed moment (``NOW``, 2 March 2026) while most
requests read the real clock: with the default 90-day lifetime those tokens would have expired.
Tests of the lifetime itself (tests/service/test_tokens.py) set it explicitly.
"""

import os

os.environ.setdefault("FUNDFLOW_API_TOKEN_DAYS", "3650")
