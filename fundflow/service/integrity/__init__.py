"""Tamper evidence beyond the per-case hash chain (fundflow/service/audit.py).

* ``keys``: the Ed25519 signing key (a file, never in the database), the public key that alone
  verifies checkpoints, and the event seal (an HMAC of each event's hash) derived from it.
* ``facts``: digests of the rows each event writes, hashed into the event, so that a replay of
  the events says what the case row, its stages, votes, documents and ledger entries must be.
* ``checkpoints``: the scheduler's job that numbers new events in one global sequence, extends
  a running head over them and signs it; copies go to a file and to a witness channel.
* ``verify``: the whole-state check behind ``fundflow audit verify``.
"""
