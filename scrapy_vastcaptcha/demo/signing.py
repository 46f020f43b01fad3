"""HMAC signatures with a per-process secret: form CSRF values, image challenge
ids, challenge ray ids and ``cf_clearance`` cookies.

A restarted demo site invalidates everything it signed before, exactly like a
real site rotating its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable

CLEARANCE_LIFETIME = 1800


class Signer:
    """Signs and checks short strings; the secret never leaves the process."""

    def __init__(self, secret: bytes | None = None, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret if secret is not None else os.urandom(32)
        self._clock = clock

    def sign(self, *parts: str) -> str:
        """A hex signature over ``parts``; the first part names the purpose."""
        message = "\x1f".join(parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def check(self, signature: str, *parts: str, length: int = 32) -> bool:
        """Whether ``signature`` is :meth:`sign` of ``parts`` (first ``length`` digits)."""
        # bytes, because compare_digest refuses non-ASCII str from hostile input
        expected = self.sign(*parts)[:length]
        return hmac.compare_digest(signature.encode(), expected.encode())

    def csrf(self, path: str, page: int) -> str:
        """The hidden ``csrf`` value of the form at ``path`` for page ``page``."""
        return self.sign("csrf", path, str(page))

    def check_csrf(self, value: str, path: str, page: int) -> bool:
        """Whether ``value`` is the form's :meth:`csrf`."""
        return self.check(value, "csrf", path, str(page))

    def new_challenge_id(self) -> str:
        """A fresh, signed image challenge id (32 hex digits)."""
        nonce = secrets.token_hex(8)
        return nonce + self.sign("image", nonce)[:16]

    def valid_challenge_id(self, challenge_id: str) -> bool:
        """Whether ``challenge_id`` came from :meth:`new_challenge_id`."""
        nonce, signature = challenge_id[:16], challenge_id[16:]
        return len(challenge_id) == 32 and self.check(signature, "image", nonce, length=16)

    def ray_id(self, return_to: str) -> str:
        """The challenge page's ray id for ``return_to``; it becomes Turnstile's cData."""
        return self.sign("ray", return_to)[:16]

    def new_clearance(self) -> str:
        """A ``cf_clearance`` cookie value valid for :data:`CLEARANCE_LIFETIME` seconds."""
        expires = str(int(self._clock()) + CLEARANCE_LIFETIME)
        return f"{expires}-{self.sign('clearance', expires)}"

    def valid_clearance(self, value: str) -> bool:
        """Whether ``value`` is an unexpired cookie from :meth:`new_clearance`."""
        expires, _, signature = value.partition("-")
        if not (expires.isascii() and expires.isdigit()) or not self.check(
            signature, "clearance", expires
        ):
            return False
        return int(expires) > self._clock()
