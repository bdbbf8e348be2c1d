"""Prepare a fresh authorization server database in one process: migrate, two users, and the
hub's confidential client (authorization code, PKCE). Run as `python bootstrap.py CLIENT_ID
CLIENT_SECRET REDIRECT_URI` with OAUTH_SERVER_DB set; prints nothing on success."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

USERS = [("alice", "alice@example.com"), ("bob", "bob@example.com")]
PASSWORD = "authz-secret-42"


def main(client_id: str, client_secret: str, redirect_uri: str):
    call_command("migrate", verbosity=0, interactive=False)
    User = get_user_model()
    for username, email in USERS:
        User.objects.create_user(username=username, email=email, password=PASSWORD, is_staff=True)
    call_command(
        "createapplication",
        "confidential",
        "authorization-code",
        client_id=client_id,
        client_secret=client_secret,
        redirect_uris=redirect_uri,
        name="MetaCortex hub",
        verbosity=0,
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
