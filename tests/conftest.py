"""Settings every test process shares.

The test worlds issue their API tokens at a fixed moment (``NOW``, 2 March 2026) while most
requests read the real clock: with the default 90-day lifetime those tokens would have expired.
Tests of the lifetime itself (tests/service/test_tokens.py) set it explicitly.

The suite runs in parallel (pytest-xdist, scripts/test): a test that builds ``Settings`` without a
data folder gets a temporary one of its process, never the checkout's ``data/`` that the workers
(and a developer's demo) would share.

Shared helpers live in ``tests/support``; fixtures in the conftest of the folder that uses them.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("FUNDFLOW_API_TOKEN_DAYS", "3650")
if "FUNDFLOW_DATA_DIR" not in os.environ:
    _data = tempfile.mkdtemp(prefix="fundflow-test-data-")
    os.environ["FUNDFLOW_DATA_DIR"] = _data
    atexit.register(shutil.rmtree, _data, ignore_errors=True)

# Argon2 at its production cost (64 MiB, 3 passes) takes ~0.4 s a hash on these machines, and every
# test world gives one user a password: the tests hash with the same algorithm at its lowest cost.
# Hashing and verifying stay real (a wrong password is still refused); the cost is in the hash
# string, so verification reads it from there. Production keeps ``PasswordHash.recommended()``.
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

import fundflow.service.auth as _auth

_auth._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
