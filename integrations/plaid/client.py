"""Plaid calls made with the operator's keys alone (no Item yet, or none known): Link tokens, the
public token exchange and webhook verification keys. Through the hub's guarded HTTP client, with
errors classified as the connector classifies them.

Docs: https://plaid.com/docs/api/link/ (/link/token/create, /link/token/get),
https://plaid.com/docs/api/items/#itempublic_tokenexchange,
https://plaid.com/docs/api/webhooks/webhook-verification/ (/webhook_verification_key/get).
"""

from __future__ import annotations

import json

from connectors.http import HttpClient, OutboundPolicy
from connectors.plaid import operator_keys, plaid_base, plaid_error
from connectors.webapi import ANY_STATUS


def call(path: str, body: dict) -> dict:
    client_id, secret, _env = operator_keys()
    with HttpClient(OutboundPolicy(windows=[], max_retries=1)) as http:
        response = http.post(
            f"{plaid_base()}{path}", json={"client_id": client_id, "secret": secret, **body}, ok=ANY_STATUS
        )
    if response.status_code != 200:
        raise plaid_error(response)
    data = json.loads(response.text)
    return data if isinstance(data, dict) else {}
