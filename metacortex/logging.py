"""A last line of defence: scrub anything that looks like a credential from log records.

Code must never log secrets in the first place; this filter catches the mistakes (an exception
message quoting a URL with a token, a library logging an Authorization header).
"""

import logging


def redact(text: str) -> str:
    from connectors.masking import mask_credentials_in, mask_urls_in

    text = mask_credentials_in(text)
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
