"""Session-scoped real servers, each started on a free port in a temp dir and stopped by PID.

Each peer lives in its own module (radicale.py, dovecot.py, smtp.py, feeds.py, oauth_server.py)
and is registered as a pytest plugin in tests/conftest.py."""
