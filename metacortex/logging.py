"""A last line of defence: scrub anything that looks like a credential from log records.

Code must never log secrets in the first place; this filter catches the mistakes (an exception
message quoting a URL with a token, a library logging an Authorization header).
"""

import logging
import re

_PATTERNS = [
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|token)\s+)[^\s'\",}]+"), r"\1[redacted]"),
    # key=value pairs with a secret-sounding key, in URLs, dict reprs and JSON
    (
        re.compile(
            r"(?i)(['\"]?(?:access_token|refresh_token|client_secret|password|passwd|api_key|apikey|"
            r"token|secret|code_verifier)['\"]?\s*[:=]\s*['\"]?)[^\s'\"&,}]+"
        ),
        r"\1[redacted]",
    ),
    # user:password@host in URLs
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), r"\1[redacted]@"),
]


def redact(text: str) -> str:
    from connectors.masking import mask_urls_in

    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    # Private calendar links and webhook URLs carry their secret in the path: scheme and host only.
    return mask_urls_in(text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatting happens later; pre-render the traceback so it can be scrubbed too.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted)
        return True
