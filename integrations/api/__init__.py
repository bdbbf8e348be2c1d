"""The JSON API (/api/v1/): the gallery and lifecycle operations for scripts and other tools.

Authentication: the browser session, or a personal API token (`Authorization: Bearer mc_...`,
created and revoked on the API tokens page). Only token-authenticated requests skip CSRF;
session-authenticated unsafe requests still need the X-CSRFToken header.

Errors are {"error": {"code", "message", "field", "remediation"}} (plus "fields" when several
fields are wrong) with status 400 (invalid input or the connection test failed), 401 (not
authenticated), 403 (CSRF), 404 (not yours or not found), 405, and 409 (cannot be done in the
current state: a coming-soon type, a paused integration asked to sync). POST .../sync answers
202 with a new job, or 200 with the job already queued or running (never a second one).
No answer ever holds a secret: credentials are reported only as stored or not.
"""
