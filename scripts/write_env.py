"""Write a local .env with freshly generated keys, unless one exists. Standard library only,
so it runs before anything is installed. The .env file is git-ignored: never commit it."""

import base64
import os
import secrets
import sys
from pathlib import Path

path = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
if path.exists():
    sys.exit(0)
fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
path.write_text(
    "# Written by `make run` with fresh random keys. Keep it secret; never commit it.\n"
    "# Losing FERNET_KEYS makes stored credentials unreadable: back it up with the database.\n"
    f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
    f"FERNET_KEYS={fernet_key}\n"
    "DEBUG=false\n"
)
path.chmod(0o600)
print(f"Wrote {path} with new SECRET_KEY and FERNET_KEYS")
