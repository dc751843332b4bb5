"""Scoped API tokens and Slack links on a real SQLite store with a fake clock: a token narrowed
to one role and environment never carries more than its user holds, revoking works by id."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runwright.app.people import users
from runwright.app.runtime.runtime import Runtime
from runwright.engine.accounts import Grant
from runwright.engine.links import SlackLinks
from runwright.errors import InputError


def test_a_scoped_token_allows_its_role_in_its_environment_only(rt: Runtime) -> None:
    users.add_user(rt, "ci", ["deployer", "approver"], [])
    secret = users.create_token(
        rt, "ci", "api", timedelta(hours=1), "ci", Grant("deployer", "staging")
    )
    scope = users.token_scope(rt, secret)
    assert scope == Grant("deployer", "staging")
    grants = users.scoped(users.accounts(rt).grants("ci"), scope)
    assert users.allowed(grants, "deploy", "staging")
    assert not users.allowed(grants, "deploy", "production")
    assert not users.allowed(grants, "approve", "staging")
    assert users.allowed(grants, "read", "staging")
    assert not users.allowed(grants, "read", "production")


def test_an_admin_may_mint_any_scope_but_nobody_more_than_they_hold(rt: Runtime) -> None:
    users.add_user(rt, "root", ["admin"], [])
    users.add_user(rt, "vic", ["viewer"], [])
    users.add_user(rt, "sam", ["deployer"], ["staging"])
    scope = Grant("approver", "production")
    assert users.create_token(rt, "root", "api", timedelta(hours=1), "", scope)
    with pytest.raises(InputError, match="vic has no deployer role in staging"):
        users.create_token(rt, "vic", "api", timedelta(hours=1), "", Grant("deployer", "staging"))
    with pytest.raises(InputError, match="sam has no deployer role in production"):
        users.create_token(
            rt, "sam", "api", timedelta(hours=1), "", Grant("deployer", "production")
        )
    unscoped = users.create_token(rt, "sam", "api", timedelta(hours=1))
    assert users.token_scope(rt, unscoped) is None


def test_a_revoked_token_no_longer_authenticates(rt: Runtime) -> None:
    users.add_user(rt, "bob", ["viewer"], [])
    secret = users.create_token(rt, "bob", "api", timedelta(hours=1), "laptop")
    (row,) = users.accounts(rt).tokens_of("bob")
    assert (row.label, row.scope_role) == ("laptop", None)
    assert users.authenticate(rt, secret, ("api",)) == "bob"
    assert users.revoke_token(rt, row.id) == "bob"
    with pytest.raises(users.AuthError, match="unknown token"):
        users.authenticate(rt, secret, ("api",))
    with pytest.raises(InputError, match=f"no token {row.id}"):
        users.revoke_token(rt, row.id)


def test_slack_links_and_the_replay_guard(rt: Runtime) -> None:
    users.add_user(rt, "bob", ["approver"], [])
    with pytest.raises(InputError, match="not a Slack user id"):
        users.link_slack(rt, "bob", "bob")
    with pytest.raises(InputError, match="no user 'eve'"):
        users.link_slack(rt, "eve", "U0EVE0001")
    users.link_slack(rt, "bob", "U0BOB0001")
    links = SlackLinks(rt.store.engine)
    assert links.user_of("U0BOB0001") == "bob"
    assert links.user_of("U0NOBODY1") is None
    now = rt.clock.now()
    old = now - timedelta(minutes=20)
    assert links.first_time("v0=abc", now=old, forget_before=old - timedelta(minutes=10))
    assert not links.first_time("v0=abc", now=now, forget_before=now - timedelta(minutes=30))
    assert links.first_time("v0=abc", now=now, forget_before=now - timedelta(minutes=10))
