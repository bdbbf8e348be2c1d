"""The one protected API of the test authorization server: who the bearer token belongs to.

An invalid, expired or revoked token is answered 401 with WWW-Authenticate (RFC 6750 3.1), as
resource servers of real providers do (DOT's ProtectedResourceView would answer 403)."""

from django.http import JsonResponse
from django.views import View
from oauth2_provider.views.mixins import ProtectedResourceMixin


class Me(ProtectedResourceMixin, View):
    def dispatch(self, request, *args, **kwargs):
        valid, oauth_request = self.verify_request(request)
        if not valid:
            response = JsonResponse({"error": "invalid_token"}, status=401)
            response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        user = oauth_request.user
        return JsonResponse({"username": user.username, "email": user.email})
