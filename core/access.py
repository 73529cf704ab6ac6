"""Access rules: an optional app password and an admin role for destructive actions.

Both secrets are optional: with none configured the app is open (a local demo); with a
`password` everyone must enter it; with an `admin_password` only sessions that entered it
may replace corpora or fine-tune models."""
from __future__ import annotations

import hmac
from typing import Mapping


def password_ok(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison, so response time does not leak the password."""
    if not expected:
        return True
    return hmac.compare_digest((given or "").encode("utf-8"), expected.encode("utf-8"))


def secret(secrets: Mapping, name: str) -> str | None:
    """A secret as a string, or None when absent or empty."""
    try:
        value = secrets.get(name)
    except Exception:   # no secrets file at all: the app is open
        return None
    return str(value) if value else None
