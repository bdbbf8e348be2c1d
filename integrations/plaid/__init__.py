"""Plaid's hub-side flows: Hosted Link (connect and re-connect) and the signed webhook."""
