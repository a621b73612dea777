"""`platformctl operators ...` end to end against the worker's database (the CLI commits for real)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import client_for
from tests.platform_core.operators.conftest import OPERATOR_HOST, bearer, operator_token, unique_email

PASSWORD = "a long operator password"


@pytest.fixture
def run(run_cli):
    """platformctl, in-process (tests/conftest.py)."""
    return run_cli


def _listed(run) -> dict[str, dict]:
    result = run("operators", "list", "--json")
    assert result.exit_code == 0, result.output
    return {o["email"]: o for o in json.loads(result.output)}


def test_create_with_the_flag_then_list(run):
    email = unique_email()
    created = run("operators", "create", email.upper(), "--name", "Ada Ops", "--password", PASSWORD)
    assert created.exit_code == 0, created.output
    assert email in created.output  # stored lower-cased
    listed = _listed(run)[email]
    assert (listed["full_name"], listed["is_active"], listed["last_login_at"]) == ("Ada Ops", True, "-")
    table = run("operators", "list")
    assert table.exit_code == 0
    assert "last login" in table.output


def test_create_with_the_environment_variable(run):
    email = unique_email()
    created = run("operators", "create", email, env={"OPERATOR_PASSWORD": PASSWORD})
    assert created.exit_code == 0, created.output
    assert email in _listed(run)


def test_create_prompts_twice_without_echo(run):
    email = unique_email()
    created = run("operators", "create", email, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.exit_code == 0, created.output
    assert "Repeat for confirmation" in created.output
    assert PASSWORD not in created.output
    assert email in _listed(run)


def test_prompted_passwords_must_match(run):
    email = unique_email()
    result = run("operators", "create", email, input=f"{PASSWORD}\nsomething else!\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output.lower()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["operators", "create", "someone@ops.example.org", "--password", "short"], "invalid_password"),
        (["operators", "create", "not-an-email", "--password", PASSWORD], "invalid_email"),
        (["operators", "deactivate", "nobody@ops.example.org"], "operator_not_found"),
        (["operators", "activate", "nobody@ops.example.org"], "operator_not_found"),
    ],
)
def test_errors_are_one_line_and_exit_1(run, args, code):
    result = run(*args)
    assert result.exit_code == 1
    assert code in result.output
    assert "Traceback" not in result.output


def test_duplicate_email_is_refused(run):
    email = unique_email()
    assert run("operators", "create", email, "--password", PASSWORD).exit_code == 0
    again = run("operators", "create", email.upper(), "--password", PASSWORD)
    assert again.exit_code == 1
    assert "operator_email_taken" in again.output


async def test_deactivate_and_activate_govern_sign_in(run, app, settings):
    email = unique_email()
    assert run("operators", "create", email, "--password", PASSWORD).exit_code == 0
    headers = bearer(operator_token(settings, _listed(run)[email]["id"]))
    credentials = {"email": email, "password": PASSWORD}
    async with client_for(app, OPERATOR_HOST) as client:
        assert (await client.get("/api/v1/operator/me", headers=headers)).status_code == 200

        deactivated = run("operators", "deactivate", email)
        assert deactivated.exit_code == 0, deactivated.output
        assert _listed(run)[email]["is_active"] is False
        assert (await client.get("/api/v1/operator/me", headers=headers)).status_code == 401
        assert (await client.post("/api/v1/operator/auth/token", json=credentials)).status_code == 401

        assert run("operators", "activate", email).exit_code == 0
        assert (await client.get("/api/v1/operator/me", headers=headers)).status_code == 200
        # Last: signing in writes last_login_at in the test transaction, which would hold the row's lock.
        signed_in = await client.post("/api/v1/operator/auth/token", json=credentials)
        assert signed_in.status_code == 200, signed_in.text
