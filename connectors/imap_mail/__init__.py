"""IMAP mail: sync messages in from chosen folders, send (SMTP) or file (IMAP APPEND) mail out.

    connector.py  the Connector (registered as "imap"): plans, fetches, transforms, sends
    client.py     IMAP/SMTP sessions whose sockets go through the SSRF guard; error translation
    parse.py      raw message bytes -> readable fields, whatever the MIME damage
    structure.py  attachment metadata from BODYSTRUCTURE (for messages too large to fetch whole)
    compose.py    outgoing messages built from workflow cards

Importing this package is cheap: imapclient and the email machinery load on first use.
"""

from connectors.errors import register_classifier
from connectors.imap_mail.client import classify_mail_error
from connectors.imap_mail.connector import ImapConnector

_OUR_MODULES = ("imaplib", "imapclient", "smtplib")


@register_classifier
def classify_mail_exception(exc):
    """imaplib / imapclient / smtplib exceptions -> the hub's error classes."""
    if not type(exc).__module__.startswith(_OUR_MODULES):
        return None
    return classify_mail_error(exc)


__all__ = ["ImapConnector", "classify_mail_exception"]
