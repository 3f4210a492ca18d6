"""The signing key: Ed25519 from ``cryptography``, kept in a file named by a setting.

The private key signs checkpoints and, through a key derived from it, seals every event (an
HMAC-SHA256 of the event's hash: ~2 µs, where an Ed25519 signature per event would cost ~70 µs
to write and ~220 µs to check, measured here). The public key alone verifies checkpoints; the
seals need the private key file, so they are checked where the service runs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["Signer", "Verifier", "generate", "load_signer", "load_verifier", "KeyFileError"]

_SEAL_LABEL = b"fundflow event seal v1\x00"


class KeyFileError(Exception):
    """A key file is missing, unreadable or not an Ed25519 key."""


def _key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Verifier:
    public: Ed25519PublicKey
    key_id: str

    def verify(self, message: bytes, signature_hex: str) -> bool:
        try:
            self.public.verify(bytes.fromhex(signature_hex), message)
            return True
        except (InvalidSignature, ValueError):
            return False

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    verifier: Verifier
    seal_key: bytes

    @property
    def key_id(self) -> str:
        return self.verifier.key_id

    def sign(self, message: bytes) -> str:
        return self.private.sign(message).hex()

    def seal(self, event_hash: str) -> str:
        return hmac.new(self.seal_key, event_hash.encode("ascii"), hashlib.sha256).hexdigest()

    def seal_ok(self, event_hash: str, seal: str | None) -> bool:
        return seal is not None and hmac.compare_digest(self.seal(event_hash), seal)


def generate(path: Path) -> Signer:
    """Write a new private key to ``path`` (mode 0600, refusing to overwrite) and its public key
    to ``path.pub``."""
    if path.exists():
        raise KeyFileError(f"{path} already exists; move it away first (the old key still verifies old checkpoints)")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    signer = _signer(key)
    path.with_name(path.name + ".pub").write_text(signer.verifier.public_pem())
    return signer


def _signer(key: Ed25519PrivateKey) -> Signer:
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public = key.public_key()
    return Signer(key, Verifier(public, _key_id(public)), hashlib.sha256(_SEAL_LABEL + raw).digest())


@lru_cache(maxsize=8)
def _load_signer(path: str, _mtime: float) -> Signer:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"cannot read the signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return _signer(key)


def load_signer(path: Path | None) -> Signer | None:
    if path is None:
        return None
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise KeyFileError(f"cannot read the signing key {path}: {exc}") from None
    return _load_signer(str(path), mtime)


def load_verifier(public_path: Path | None, signing_path: Path | None) -> Verifier | None:
    """The public key from ``public_path``, else derived from the signing key, else None."""
    if public_path is not None:
        try:
            key = serialization.load_pem_public_key(public_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"cannot read the public key {public_path}: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{public_path} is not an Ed25519 public key")
        return Verifier(key, _key_id(key))
    signer = load_signer(signing_path)
    return signer.verifier if signer else None
