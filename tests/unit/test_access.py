"""core.access: login tokens that survive a reload, slowing down guesses, refusing admins without a password."""
import pytest

from core import access


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- tokens ------------------------------------------------------------------------------------
def test_a_token_proves_a_login_until_it_expires():
    token = access.login_token("s3cret", now=1_000_000)
    assert access.token_expiry(token, "s3cret", now=1_000_000 + 10) == 1_000_000 + access.TOKEN_TTL_S
    assert access.token_expiry(token, "s3cret", now=1_000_000 + access.TOKEN_TTL_S) is None   # expired


def test_a_token_never_carries_the_password():
    token = access.login_token("s3cret-пароль")
    assert "s3cret" not in token and "пароль" not in token


@pytest.mark.parametrize("bad", [None, "", "x", "123", "abc.def", "9999999999.", "1.2.3"])
def test_malformed_tokens_are_refused(bad):
    assert access.token_expiry(bad, "s3cret") is None


def test_forged_or_foreign_tokens_are_refused():
    now = 1_000_000
    token = access.login_token("s3cret", now=now)
    stamp, sig = token.split(".")
    assert access.token_expiry(token, "other-password", now=now) is None        # the password changed
    later = str(int(stamp) + 3600)                                               # a longer life, same signature
    assert access.token_expiry(f"{later}.{sig}", "s3cret", now=now) is None
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert access.token_expiry(f"{stamp}.{flipped}", "s3cret", now=now) is None
    # a correctly signed token valid for longer than any issued one (a stolen key would be needed) is refused too
    far = access.login_token("s3cret", now=now, ttl_s=10 * access.TOKEN_TTL_S)
    assert access.token_expiry(far, "s3cret", now=now) is None
    assert access.token_expiry(token, None, now=now) is None


# -- throttle ----------------------------------------------------------------------------------
def test_three_failures_are_free_then_waits_double():
    assert [access.wait_after(n) for n in range(7)] == [0, 0, 0, 8, 16, 32, 64]
    assert access.wait_after(40) == access.MAX_WAIT_S


def test_attempts_wait_after_three_failures_and_are_not_even_compared_meanwhile():
    clock = Clock()
    throttle = access.LoginThrottle(clock)
    keys = ["login:session:a", "login:client:1.2.3.4"]
    for _ in range(2):
        assert access.attempt("wrong", "right", keys, throttle) == access.Attempt(False, False, 0.0)
    third = access.attempt("wrong", "right", keys, throttle)
    assert not third.ok and not third.refused and third.wait_s == 8
    # during the wait even the right password is refused, and that does not count as a failure
    clock.t += 5
    early = access.attempt("right", "right", keys, throttle)
    assert early.refused and not early.ok and early.wait_s == pytest.approx(3)
    clock.t += 3
    fourth = access.attempt("wrong", "right", keys, throttle)
    assert not fourth.refused and fourth.wait_s == 16
    clock.t += 16
    assert access.attempt("right", "right", keys, throttle).ok
    assert throttle.wait_s(keys) == 0                                  # a success starts the count again


def test_the_client_is_slowed_down_in_a_new_session_and_other_clients_are_not():
    clock = Clock()
    throttle = access.LoginThrottle(clock)
    for _ in range(3):
        access.attempt("wrong", "right", ["s:1", "c:evil"], throttle)
    assert access.attempt("right", "right", ["s:2", "c:evil"], throttle).refused    # a fresh session, same client
    assert access.attempt("right", "right", ["s:3", "c:good"], throttle).ok


def test_the_store_does_not_grow_without_bound():
    throttle = access.LoginThrottle(Clock(), max_keys=10)
    for i in range(50):
        throttle.failed([f"s:{i}"])
    assert len(throttle._failures) <= 10


# -- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize("secrets", [{"admins": ["anna"]}, {"admins": "anna,boris"},
                                     {"admins": ["anna"], "admin_password": ""}, {"admins": ["anna"], "password": "x"}])
def test_admins_without_an_admin_password_are_refused(secrets):
    problem = access.config_problem(secrets)
    assert problem and "admin_password" in problem and "Настройка доступа небезопасна" in problem


@pytest.mark.parametrize("secrets", [{}, {"password": "x"}, {"admin_password": "y"},
                                     {"admins": ["anna"], "admin_password": "y"}, {"admins": []}])
def test_safe_configurations_start(secrets):
    assert access.config_problem(secrets) is None


def test_admin_names_from_a_list_or_a_string():
    assert access.admin_names({"admins": " anna , boris,"}) == ["anna", "boris"]
    assert access.admin_names({"admins": ["anna", " "]}) == ["anna"]
    assert access.admin_names({}) == []
