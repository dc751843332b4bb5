"""Users, roles and tokens on a real SQLite store with a fake clock: who may do what where,
tokens that expire, login links that work once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runwright.app.people import users
from runwright.app.people.users import AuthError
from runwright.app.runtime.runtime import Runtime
from runwright.engine.accounts import Grant
from runwright.engine.clock import FakeClock
from runwright.errors import InputError


@pytest.mark.parametrize(
    ("grants", "action", "env", "allowed"),
    [
        ([Grant("viewer", "*")], "read", "production", True),
        ([Grant("viewer", "*")], "deploy", "staging", False),
        ([Grant("deployer", "staging")], "deploy", "staging", True),
        ([Grant("deployer", "staging")], "deploy", "production", False),
        ([Grant("deployer", "staging")], "read", "production", False),
        ([Grant("deployer", "*")], "approve", "staging", False),
        ([Grant("approver", "production")], "approve", "production", True),
        ([Grant("approver", "production")], "reject", "production", True),
        ([Grant("approver", "production")], "abort", "production", False),
        ([Grant("admin", "*")], "rollback", "anywhere", True),
        ([Grant("deployer", "staging")], "read", None, True),
        ([Grant("deployer", "staging")], "deploy", None, False),
        ([], "read", None, False),
    ],
)
def test_roles_per_environment(
    grants: list[Grant], action: str, env: str | None, allowed: bool
) -> None:
    assert users.allowed(grants, action, env) is allowed


def test_first_start_makes_one_admin_with_a_one_time_link(rt: Runtime) -> None:
    secret = users.first_admin(rt, "root")
    assert secret is not None
    assert users.first_admin(rt, "root") is None
    assert users.authenticate(rt, secret, ("login",)) == "root"
    with pytest.raises(AuthError, match="already used"):
        users.authenticate(rt, secret, ("login",))
    assert users.accounts(rt).grants("root") == [Grant("admin", "*")]


def test_tokens_expire_on_the_clock_and_only_digests_are_stored(rt: Runtime) -> None:
    users.add_user(rt, "bob", ["approver"], ["production"])
    secret = users.create_token(rt, "bob", "api", timedelta(hours=1))
    assert users.authenticate(rt, secret, ("api",)) == "bob"
    with pytest.raises(AuthError, match="unknown token"):
        users.authenticate(rt, secret, ("session",))
    with rt.store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT digest FROM tokens").scalars().all()
    assert secret not in stored
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(3601)
    with pytest.raises(AuthError, match="token expired"):
        users.authenticate(rt, secret, ("api",))


def test_bad_names_roles_and_unknown_users_are_input_errors(rt: Runtime) -> None:
    with pytest.raises(InputError, match="not usable"):
        users.add_user(rt, "<b>", ["viewer"], [])
    with pytest.raises(InputError, match="unknown role 'god'"):
        users.add_user(rt, "eve", ["god"], [])
    with pytest.raises(InputError, match="no user 'nobody'"):
        users.create_token(rt, "nobody", "api", timedelta(hours=1))


def test_a_user_reads_only_the_environments_granted() -> None:
    from runwright.app.people.users import readable
    from runwright.engine.accounts import Grant

    assert readable([Grant("viewer", "staging"), Grant("approver", "qa")]) == {"staging", "qa"}
    assert readable([Grant("viewer", "staging"), Grant("deployer", "*")]) is None
    assert readable([]) == frozenset()
