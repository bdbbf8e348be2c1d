"""The OAuth 2.0 engine (authorization code + PKCE, token storage and refresh, revocation)."""
