"""Plaid's webhook: POST /plaid/webhook/, signed with a Plaid-Verification JWT.

Verification follows https://plaid.com/docs/api/webhooks/webhook-verification/: the JWT's header
names alg ES256 and the key id (kid); the key (a P-256 JWK) comes from
/webhook_verification_key/get and is cached; the signature is checked, `iat` must be at most five
minutes old, and the claim request_body_sha256 must equal the SHA-256 of the raw body. Anything
else is refused with 400 or 401 before the body is even read, so a forged call cannot start work.

What a verified webhook does (https://plaid.com/docs/api/products/transactions/#sync_updates_available,
https://plaid.com/docs/api/items/#webhooks): SYNC_UPDATES_AVAILABLE queues a sync of the Item's
integrations; ITEM ERROR / PENDING_EXPIRATION / PENDING_DISCONNECT / USER_PERMISSION_REVOKED /
USER_ACCOUNT_REVOKED queue one too, and that sync meets Plaid's
answer (ITEM_LOGIN_REQUIRED marks the integration for re-authentication through Link's update
mode); LOGIN_REPAIRED re-tests an integration waiting for re-authentication, which syncs it
again. Other webhooks are acknowledged and ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connectors.errors import ConnectorError, TransientError
from connectors.plaid import item_identity
from integrations import connections
from integrations.models import Actor, Integration, JobTrigger, Status
from integrations.plaid.client import call
from integrations.secrets import secrets_for
from integrations.sync.jobs import SyncRefused, queue_sync

log = logging.getLogger(__name__)

MAX_AGE = 5 * 60  # seconds: Plaid's advice for iat
KEY_CACHE_SECONDS = 3600
SYNCING = {
    ("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE"),
    ("ITEM", "ERROR"),
    ("ITEM", "PENDING_EXPIRATION"),
    ("ITEM", "PENDING_DISCONNECT"),
    ("ITEM", "LOGIN_REPAIRED"),
    # The person revoked the hub's access at Plaid or at the bank: the sync meets Plaid's refusal
    # and asks them to reconnect, instead of the hub finding out at the next scheduled sync.
    ("ITEM", "USER_PERMISSION_REVOKED"),
    ("ITEM", "USER_ACCOUNT_REVOKED"),
}


class Unverified(Exception):
    """The webhook's signature cannot be trusted."""


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Unverified("The Plaid-Verification header is not a JWT.") from exc


def _segment(part: str) -> dict:
    try:
        value = json.loads(_b64(part))
    except ValueError as exc:
        raise Unverified("The Plaid-Verification header is not a JWT.") from exc
    if not isinstance(value, dict):
        raise Unverified("The Plaid-Verification header is not a JWT.")
    return value


def verification_key(kid: str) -> ec.EllipticCurvePublicKey:
    cache_key = f"plaid-webhook-key:{hashlib.sha256(kid.encode()).hexdigest()}"
    jwk = cache.get(cache_key)
    if jwk is None:
        try:
            jwk = call("/webhook_verification_key/get", {"key_id": kid}).get("key") or {}
        except TransientError:
            raise
        except ConnectorError as exc:
            raise Unverified("Plaid does not know the key this webhook names.") from exc
        cache.set(cache_key, jwk, KEY_CACHE_SECONDS)
    if jwk.get("expired_at") or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise Unverified("The webhook was signed with an expired or unusable key.")
    try:
        x, y = (int.from_bytes(_b64(jwk[c]), "big") for c in ("x", "y"))
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (KeyError, ValueError) as exc:
        raise Unverified("The webhook was signed with an unusable key.") from exc


def verify(body: bytes, token: str, *, now: float | None = None) -> None:
    """Raise Unverified unless `token` is Plaid's valid signature of `body`."""
    parts = token.split(".") if token else []
    if len(parts) != 3:
        raise Unverified("The Plaid-Verification header is missing.")
    header, claims = _segment(parts[0]), _segment(parts[1])
    if header.get("alg") != "ES256" or not isinstance(header.get("kid"), str) or not header["kid"]:
        raise Unverified("The webhook is not signed with ES256.")
    signature = _b64(parts[2])
    if len(signature) != 64:
        raise Unverified("The webhook's signature is malformed.")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        verification_key(header["kid"]).verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise Unverified("The webhook's signature does not match.") from exc
    issued = claims.get("iat")
    now = time.time() if now is None else now
    if not isinstance(issued, int | float) or abs(now - issued) > MAX_AGE:
        raise Unverified("The webhook's signature is too old (or from the future).")
    expected = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(str(claims.get("request_body_sha256", "")), expected):
        raise Unverified("The webhook's body is not the one Plaid signed.")


@csrf_exempt  # called by Plaid's servers, authenticated by the signature, never by a browser session
@require_POST
def webhook(request):
    try:
        verify(request.body, request.headers.get("Plaid-Verification", ""))
    except Unverified as exc:
        return JsonResponse({"error": str(exc)}, status=401)
    except TransientError:
        # Plaid retries a webhook that was not answered with 200.
        return JsonResponse({"error": "Plaid's verification key could not be fetched; try again."}, status=503)
    except ConnectorError:  # the hub has no Plaid keys: nothing here can be verified
        return JsonResponse({"error": "This hub does not accept Plaid webhooks."}, status=401)
    try:
        event = json.loads(request.body)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        return JsonResponse({"error": "The body is not a JSON object."}, status=400)
    kind = (str(event.get("webhook_type") or ""), str(event.get("webhook_code") or ""))
    if kind not in SYNCING:
        return JsonResponse({"queued": 0})
    item_id = str(event.get("item_id") or "")
    targets = list(
        Integration.objects.filter(type__slug="plaid", account_identity=item_identity(item_id)).select_related("type")
    )
    if not item_id or not targets:
        return JsonResponse({"error": "No integration here uses this Plaid item."}, status=400)
    queued = 0
    for integration in targets:
        if kind == ("ITEM", "LOGIN_REPAIRED") and integration.status == Status.NEEDS_REAUTH:
            queued += _repair(integration)
            continue
        try:
            # The ledger shows a provider's nudge apart from the schedule and from the person's own requests.
            queue_sync(integration, trigger=JobTrigger.WEBHOOK)
            queued += 1
        except SyncRefused as exc:
            log.info("Plaid webhook %s/%s for integration %s: no sync (%s)", *kind, integration.pk, exc)
    return JsonResponse({"queued": queued})


def _repair(integration) -> int:
    """The person signed in again elsewhere (another app on the same Item, or the bank's own
    flow): re-test with the stored token, which clears the re-auth state and syncs again."""
    token = secrets_for(integration, actor=Actor.SYSTEM).get("access_token", "")
    try:
        saved = connections.update(integration, {"access_token": token})
    except connections.Problem as exc:
        log.info("Plaid LOGIN_REPAIRED for integration %s, but the test still fails: %s", integration.pk, exc)
        return 0
    return 1 if saved.sync_job is not None else 0
