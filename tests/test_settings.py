"""Start-up refuses missing or malformed keys with a clear message, never falling back."""

import base64
import os
import signal
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from metacortex.keys import parse_fernet_keys, require_secret_key

GOOD_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
GOOD_SECRET = "s" * 50


def test_fernet_keys_first_encrypts_all_decrypt_order_kept():
    other = base64.urlsafe_b64encode(b"o" * 32).decode()
    assert parse_fernet_keys(f" {GOOD_KEY} , {other} ") == [GOOD_KEY, other]


@pytest.mark.parametrize("value", ["", " , ", "not-a-key", base64.urlsafe_b64encode(b"short").decode()])
def test_bad_fernet_keys_are_refused_with_instructions(value):
    with pytest.raises(ImproperlyConfigured) as exc:
        parse_fernet_keys(value)
    assert "FERNET_KEYS" in str(exc.value)
    assert "generate" in str(exc.value).lower() or "make run" in str(exc.value)


@pytest.mark.parametrize("value", ["", "changeme", "django-insecure-abc", "x" * 20])
def test_weak_secret_keys_are_refused(value):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        require_secret_key(value)


def _start(env_overrides: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FERNET_KEYS", "DATABASE_URL")}
    env.update(env_overrides)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'start.sqlite3'}"
    # Run from a directory without a .env so only these variables count.
    code = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'metacortex.settings'); django.setup()"
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {os.getcwd()!r}); " + code],
        cwd=tmp_path,
        env={**env, "METACORTEX_ENV_FILE": str(tmp_path / "missing.env")},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_start_without_fernet_keys_fails_clearly(tmp_path):
    result = _start({"SECRET_KEY": GOOD_SECRET, "DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "FERNET_KEYS is not set" in result.stderr


def test_production_start_with_malformed_fernet_key_fails_clearly(tmp_path):
    result = _start({"SECRET_KEY": GOOD_SECRET, "FERNET_KEYS": "hunter2", "DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "FERNET_KEYS entry 1 is not a valid Fernet key" in result.stderr


def test_start_with_real_keys_succeeds(tmp_path):
    result = _start({"SECRET_KEY": GOOD_SECRET, "FERNET_KEYS": GOOD_KEY, "DEBUG": "false"}, tmp_path)
    assert result.returncode == 0, result.stderr


PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _procfile_command(name: str) -> str:
    with open(os.path.join(PROJECT, "Procfile")) as procfile:
        lines = procfile.read().splitlines()
    for line in lines:
        process, _, command = line.partition(":")
        if process.strip() == name:
            return command.strip()
    raise AssertionError(f"the Procfile has no {name} entry")


@pytest.mark.parametrize("process", ["web", "worker"])
def test_web_and_worker_refuse_to_start_with_keys_that_cannot_read_stored_secrets(subprocess_env, owner, process):
    from tests.factories import make_integration
    from tests.peers.availability import free_port

    make_integration(owner, secrets={"password": "hunter2-must-not-appear"})
    other_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    port = free_port()
    env = {
        **subprocess_env,
        "FERNET_KEYS": other_key,
        "SECRET_KEY": GOOD_SECRET,
        "PORT": str(port),
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",  # python and gunicorn, as honcho has
    }
    # The Procfile's own line, through a shell as honcho runs it. Were gunicorn or qcluster started,
    # it would run instead of failing: then the whole process group is stopped and the test fails.
    web = subprocess.Popen(
        ["/bin/sh", "-c", _procfile_command(process)],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = web.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(web.pid, signal.SIGTERM)
        web.communicate()
        pytest.fail(f"the {process} process started although FERNET_KEYS cannot read the stored secrets")
    assert web.returncode != 0
    output = stdout + stderr
    assert "FERNET_KEYS cannot decrypt 1 of 1 stored values of integrations.Credential.secrets" in output
    assert "hunter2-must-not-appear" not in output


def test_a_sweep_interval_as_long_as_the_stale_threshold_is_warned_about(settings):
    from integrations.checks import heartbeats_outpace_takeover

    settings.SYNC_STALE_AFTER = 10
    settings.SYNC_SWEEP_EVERY = 4
    assert not [w for w in heartbeats_outpace_takeover(None) if w.id == "metacortex.W001"]

    settings.SYNC_SWEEP_EVERY = 30
    (warning,) = [w for w in heartbeats_outpace_takeover(None) if w.id == "metacortex.W001"]
    assert "SYNC_SWEEP_EVERY (30 s)" in warning.msg
    assert "Lower SYNC_SWEEP_EVERY" in warning.hint


def _manage(env_overrides: dict, tmp_path, *args) -> subprocess.CompletedProcess:
    """`manage.py ARGS` as an operator runs it, with only these variables (no .env file)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FERNET_KEYS", "DATABASE_URL", "DEBUG")}
    env.update(
        {
            "SECRET_KEY": GOOD_SECRET,
            "FERNET_KEYS": GOOD_KEY,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'start.sqlite3'}",
            "METACORTEX_ENV_FILE": str(tmp_path / "missing.env"),
        }
    )
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, os.path.join(PROJECT, "manage.py"), *(args or ["check"])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("DEBUG", "maybe", "true or false"),
        ("SECURE_COOKIES", "ture", "true or false"),
        ("Q_WORKERS", "two", "a whole number"),
        ("CONN_MAX_AGE", "1m", "a whole number"),
        ("OUTBOUND_TIMEOUT", "abc", "a number"),
        ("SYNC_RETRY_BUDGET", "1,000", "a number"),  # was read as 1.0 (the comma taken for a decimal point)
        ("OUTBOUND_TIMEOUT", "1e3s", "a number"),  # was read as 13.0 (every letter dropped)
        ("CONNECTOR_API_BASES", "{bad", "JSON"),
        ("DATABASE_URL", "notaurl", "postgres://"),
        ("DATABASE_URL", "postgres://hub:s3cret-pw@db:notaport/hub", "port"),
        ("DATABASE_URL", "postgress://hub:s3cret-pw@db/hub", "postgres://"),  # django-environ warned with the password
        ("EMAIL_URL", "bogus", "smtp"),
        ("TIME_ZONE", "Mars/Base", "Europe/Berlin"),
        ("LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ("ACCOUNT_EMAIL_VERIFICATION", "maybe", "none, optional or mandatory"),
        ("SITE_URL", "hub.example.com", "such as https://hub.example.com"),  # mails and OAuth linked nowhere
        ("Q_WORKERS", "0", "above 0"),  # a cluster that runs no task
        ("SYNC_STALE_AFTER", "0", "above 0"),  # every running job taken for dead at once
        ("SYNC_SWEEP_EVERY", "-4", "above 0"),
        ("OUTBOUND_TIMEOUT", "0", "above 0"),  # every outbound request failing at once
        ("UPLOAD_CHUNK_MAX_BYTES", "0", "above 0"),
    ],
)
def test_a_bad_setting_is_named_in_one_clear_message_without_a_traceback(tmp_path, variable, value, says):
    result = _manage({variable: value}, tmp_path)
    assert result.returncode != 0, f"{variable}={value!r} was accepted"
    assert variable in result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_missing_keys_through_manage_py_are_one_message_too(tmp_path):
    result = _manage({"FERNET_KEYS": ""}, tmp_path)
    assert result.returncode != 0
    assert "FERNET_KEYS is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("On", True), ("0", False), ("off", False)]
)
def test_usual_spellings_of_true_and_false_are_understood(tmp_path, value, expected):
    script = "from django.conf import settings; print('DEBUG', settings.DEBUG)"
    result = _manage({"DEBUG": value}, tmp_path, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    assert f"DEBUG {expected}" in result.stdout


def test_a_secret_key_starting_with_a_dollar_sign_is_taken_as_written(tmp_path):
    # django-environ reads "$NAME" as "the value of the variable NAME": a key from Django's own
    # generator (whose alphabet has "$") then came out empty and the hub called it "missing".
    secret = "$" + "k3y-" * 12
    script = f"from django.conf import settings; print(settings.SECRET_KEY == {secret!r})"
    result = _manage({"SECRET_KEY": secret}, tmp_path, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    assert "True" in result.stdout


def test_a_number_or_switch_left_empty_takes_its_default(tmp_path):
    # `DEBUG=` and `Q_WORKERS=` in a .env copied from an example: the default, as if unset.
    script = "from django.conf import settings; print(settings.DEBUG, settings.Q_CLUSTER['workers'])"
    result = _manage({"DEBUG": "", "Q_WORKERS": " "}, tmp_path, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    assert "False 2" in result.stdout


def test_behind_a_tls_proxy_a_post_from_the_hubs_own_https_address_passes_csrf(tmp_path):
    # A TLS proxy in front of gunicorn: Django sees http, the browser sends Origin: https://hub...
    # With SITE_URL set to that address and nothing else, every POST (sign-in first) was refused
    # with "Origin checking failed": the hub's own public origin is now trusted for CSRF.
    # Django's own CSRF middleware with the settings as started (no view, no database).
    script = (
        "from django.http import HttpResponse\n"
        "from django.middleware.csrf import CsrfViewMiddleware\n"
        "from django.test import RequestFactory\n"
        "def view(request):\n"
        "    return HttpResponse('ok')\n"
        "for origin in ('https://hub.example.com', 'https://evil.example.net'):\n"
        "    request = RequestFactory().post('/accounts/login/', {'csrfmiddlewaretoken': 'k' * 32},\n"
        "                                    HTTP_HOST='hub.example.com', HTTP_ORIGIN=origin)\n"
        "    request.COOKIES['csrftoken'] = 'k' * 32\n"
        "    middleware = CsrfViewMiddleware(view)\n"
        "    middleware._reject = lambda request, reason: reason  # the reason, not the hub's error page\n"
        "    middleware.process_request(request)\n"
        "    refused = middleware.process_view(request, view, (), {})\n"
        "    print(origin, 'refused' if refused is not None else 'passed')\n"
    )
    env = {"SITE_URL": "https://hub.example.com", "ALLOWED_HOSTS": "hub.example.com"}
    result = _manage(env, tmp_path, "shell", "-c", script)
    assert "https://hub.example.com passed" in result.stdout, result.stdout + result.stderr
    assert "https://evil.example.net refused" in result.stdout  # another origin is still refused


def test_a_site_url_whose_host_is_not_allowed_is_warned_about(settings):
    # Every request to the address people are given would be a 400 "Bad Request".
    from integrations.checks import site_url_is_served

    settings.SITE_URL, settings.ALLOWED_HOSTS = "https://hub.example.com", ["127.0.0.1", "localhost"]
    (warning,) = site_url_is_served(None)
    assert warning.id == "metacortex.W002"
    assert "hub.example.com" in warning.msg
    assert "ALLOWED_HOSTS" in warning.hint

    for allowed in (["hub.example.com"], [".example.com"], ["*"]):
        settings.ALLOWED_HOSTS = allowed
        assert not site_url_is_served(None)


def test_an_https_site_url_without_the_proxy_setting_is_a_deploy_warning(settings):
    # gunicorn serves plain http: an https address means a TLS proxy in front, and without
    # BEHIND_TLS_PROXY Django never knows a request was secure (no HSTS, http in built links).
    from integrations.checks import https_site_knows_its_proxy

    settings.SITE_URL, settings.DEBUG, settings.SECURE_PROXY_SSL_HEADER = "https://hub.example.com", False, None
    (warning,) = https_site_knows_its_proxy(None)
    assert warning.id == "metacortex.W003"
    assert "BEHIND_TLS_PROXY" in warning.hint

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert not https_site_knows_its_proxy(None)
    settings.SITE_URL, settings.SECURE_PROXY_SSL_HEADER = "http://127.0.0.1:8000", None
    assert not https_site_knows_its_proxy(None)


def test_an_unmigrated_database_is_one_sentence_saying_to_migrate(tmp_path):
    result = _manage({}, tmp_path, "load_catalogue")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not migrated" in result.stderr
    assert "python manage.py migrate" in result.stderr


def test_an_unreachable_database_is_one_sentence_naming_database_url(tmp_path):
    from tests.peers.availability import free_port

    url = f"postgres://hub:s3cret-pw@127.0.0.1:{free_port()}/metacortex"
    result = _manage({"DATABASE_URL": url}, tmp_path, "sync", "1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "DATABASE_URL" in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_secure_ssl_redirect_sends_http_to_https_but_not_the_health_check(tmp_path):
    # `check --deploy` warned (security.W008) with no way to turn the redirect on from the environment.
    # Django's own security middleware with the settings as started (no view, no database).
    script = (
        "from django.http import HttpResponse\n"
        "from django.middleware.security import SecurityMiddleware\n"
        "from django.test import RequestFactory\n"
        "middleware = SecurityMiddleware(lambda request: HttpResponse('ok'))\n"
        "def answer(path, **headers):\n"
        "    return middleware.process_request(RequestFactory().get(path, HTTP_HOST='hub.example.com', **headers))\n"
        "r = answer('/accounts/login/')\n"
        "print('LOGIN', r and r.status_code, r and r['Location'])\n"
        "print('SECURE', answer('/accounts/login/', HTTP_X_FORWARDED_PROTO='https') is None)\n"
        "print('HEALTH', answer('/healthz') is None)\n"
    )
    env = {
        "SITE_URL": "https://hub.example.com",
        "ALLOWED_HOSTS": "hub.example.com",
        "BEHIND_TLS_PROXY": "true",
        "SECURE_SSL_REDIRECT": "true",
    }
    result = _manage(env, tmp_path, "shell", "-c", script)
    assert "LOGIN 301 https://hub.example.com/accounts/login/" in result.stdout, result.stdout + result.stderr
    assert "SECURE True" in result.stdout  # already https (the proxy said so): no redirect
    assert "HEALTH True" in result.stdout


def test_an_ssl_redirect_without_the_proxy_setting_is_warned_about(settings):
    from integrations.checks import ssl_redirect_knows_its_proxy

    settings.SECURE_SSL_REDIRECT, settings.SECURE_PROXY_SSL_HEADER = True, None
    (warning,) = ssl_redirect_knows_its_proxy(None)
    assert warning.id == "metacortex.W004"
    assert "BEHIND_TLS_PROXY" in warning.hint
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert not ssl_redirect_knows_its_proxy(None)
