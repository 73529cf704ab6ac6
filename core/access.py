"""Access rules: an optional app password and an admin role for destructive actions.

Both secrets are optional: with none configured the app is open (a local demo); with a
`password` everyone must enter it; with an `admin_password` only sessions that entered it
may replace corpora or fine-tune models. `admins` (annotator names) narrows the admin role
further and is refused without an `admin_password`: a name typed in the sidebar proves nothing.

A login survives a reload through a signed token in the page address (`login_token`): the
HMAC of an expiry time under a key derived from the password (slowly, so a token does not
make guessing the password cheap). The password itself never leaves the server, a token
stops working when it expires or the password changes, and a forged one is refused.

Failed attempts slow down (`LoginThrottle`): after `FREE_FAILURES` failures each further
attempt waits 2^n seconds, counted per session and per client address, process-wide.
"""
from __future__ import annotations

import hashlib
import hmac
import threading
import time
from functools import lru_cache
from typing import Callable, Iterable, Mapping, NamedTuple

TOKEN_TTL_S = 24 * 3600      # a login is kept across reloads for a day
FREE_FAILURES = 3            # failures before attempts slow down
MAX_WAIT_S = 15 * 60         # the longest wait between attempts
_KDF_SALT = b"vecscope login token v1"
_KDF_ROUNDS = 200_000


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


def admin_names(secrets: Mapping) -> list[str]:
    """The `admins` secret as a list of names (a list, or one comma-separated string)."""
    try:
        value = secrets.get("admins")
    except Exception:
        return []
    if not value:
        return []
    names = value.split(",") if isinstance(value, str) else list(value)
    return [str(n).strip() for n in names if str(n).strip()]


def config_problem(secrets: Mapping) -> str | None:
    """Why this access configuration must not start, in Russian; None when it may."""
    if admin_names(secrets) and not secret(secrets, "admin_password"):
        return ("Настройка доступа небезопасна: в .streamlit/secrets.toml задан список администраторов "
                "`admins`, но не задан пароль администратора `admin_password`. Без него администратором "
                "станет любой, кто впишет в боковой панели имя из списка. Добавьте `admin_password` "
                "(или уберите `admins`) и перезапустите приложение.")
    return None


# -- a login kept across reloads ---------------------------------------------------------------
@lru_cache(maxsize=8)
def _token_key(password: str) -> bytes:
    """The server's signing key, derived from the password with PBKDF2 (about 0.1 s, once per
    process): a leaked token is as hard to turn into the password as a stored hash."""
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _KDF_SALT, _KDF_ROUNDS)


def _signature(password: str, expires: int) -> str:
    return hmac.new(_token_key(password), f"login:{expires}".encode(), hashlib.sha256).hexdigest()


def login_token(password: str, now: float | None = None, ttl_s: int = TOKEN_TTL_S) -> str:
    """"<expiry>.<signature>" for the page address: proves a login until the expiry."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{expires}.{_signature(password, expires)}"


def token_expiry(token: str | None, password: str | None, now: float | None = None,
                 ttl_s: int = TOKEN_TTL_S) -> int | None:
    """The expiry of a valid, unexpired token signed for this password; None for anything else
    (malformed, forged, expired, signed for another password, or valid for longer than a token
    is ever issued for)."""
    if not token or not password or not isinstance(token, str):
        return None
    stamp, _, signature = token.partition(".")
    if not stamp.isdigit() or len(stamp) > 12 or len(signature) != 64:
        return None
    expires = int(stamp)
    now = time.time() if now is None else now
    if not now < expires <= now + ttl_s + 60:
        return None
    if not hmac.compare_digest(signature.encode(), _signature(password, expires).encode()):
        return None
    return expires


# -- slowing down guesses ----------------------------------------------------------------------
def wait_after(failures: int) -> float:
    """Seconds before the next attempt after `failures` failures in a row: none for the first
    FREE_FAILURES, then 2^n (8 s after the 3rd, 16 s after the 4th, …), at most MAX_WAIT_S."""
    if failures < FREE_FAILURES:
        return 0.0
    return float(min(2 ** failures, MAX_WAIT_S))


class LoginThrottle:
    """Failures per key ("session:…", "client:…"); an attempt waits for the slowest of its keys.
    Thread-safe: Streamlit runs each session's script in its own thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}   # key -> (failures in a row, time of the last)

    def wait_s(self, keys: Iterable[str]) -> float:
        """Seconds until an attempt for these keys is accepted (0 when it is now)."""
        now = self._clock()
        with self._lock:
            waits = [last + wait_after(n) - now for n, last in
                     (self._failures.get(k, (0, now)) for k in keys)]
        return max([0.0] + waits)

    def failed(self, keys: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                n, _ = self._failures.get(key, (0, now))
                self._failures[key] = (n + 1, now)
            if len(self._failures) > self._max_keys:   # forget the oldest half rather than grow forever
                for key, _ in sorted(self._failures.items(), key=lambda kv: kv[1][1])[: self._max_keys // 2]:
                    del self._failures[key]

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


THROTTLE = LoginThrottle()   # one per server process: every session and client counts here


class Attempt(NamedTuple):
    ok: bool           # the password was right
    refused: bool      # not even compared: the keys must still wait
    wait_s: float      # seconds until the next attempt is accepted


def attempt(given: str | None, expected: str | None, keys: Iterable[str],
            throttle: LoginThrottle = THROTTLE) -> Attempt:
    """One login attempt under the throttle. A password given while the keys must still wait is
    not compared (so guessing during the wait learns nothing) and does not count as a failure."""
    keys = list(keys)
    wait = throttle.wait_s(keys)
    if wait > 0:
        return Attempt(False, True, wait)
    if password_ok(given, expected):
        throttle.succeeded(keys)
        return Attempt(True, False, 0.0)
    throttle.failed(keys)
    return Attempt(False, False, throttle.wait_s(keys))
