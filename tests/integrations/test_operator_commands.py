"""The operator commands as an operator types them: a wrong argument is a usage line naming the
option (exit status 2), an id that names nothing says so, and nothing reports work it did not do."""

import io
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import make_integration
from tests.integrations.counter import make_counter_type

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, os.path.join(PROJECT, "manage.py"), *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["backfill", "1", "--since", "yesterday"], "argument --since: must be a date like 2024-01-31"),
        (["rotate_keys", "--batch-size", "0"], "argument --batch-size: must be a whole number above 0"),
        (["rotate_keys", "--batch-size", "many"], "argument --batch-size: must be a whole number above 0"),
    ],
)
def test_a_wrong_argument_is_a_usage_error_not_a_traceback(subprocess_env, args, says):
    result = _manage(subprocess_env, *args)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_recount_items_names_ids_that_are_no_integration(owner):
    integration = make_integration(owner, make_counter_type())
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"No integration 999999\b"):
        call_command("recount_items", str(integration.pk), "999999", stdout=out)

    call_command("recount_items", str(integration.pk), stdout=out)
    assert "Recounted 1 integration(s)" in out.getvalue()


def test_check_worker_names_the_command_that_starts_the_worker(db):
    with pytest.raises(CommandError) as exc:
        call_command("check_worker", "--wait", "0.2")
    assert "manage.py worker" in str(exc.value)
    assert "qcluster" not in str(exc.value)
