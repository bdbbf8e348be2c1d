"""The periodic upload sweep (recreated after every `migrate`, like the token refresh): settles
uploads whose import ended elsewhere and deletes stale ones."""

from metacortex.periodic import Periodic

SWEEP = Periodic("upload-sweep", "integrations.tasks.sweep_uploads", minutes=30)
