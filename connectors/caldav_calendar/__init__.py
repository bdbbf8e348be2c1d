"""CalDAV calendars (Apple iCloud, Fastmail, Nextcloud, Radicale, ...): events and tasks in,
tasks with a due date out. Not named `caldav`, which would shadow the library.

Importing this package only registers the connector and its error classifier: the caldav and
icalendar libraries are imported when a sync or a delivery starts.
"""

import sys

from connectors.caldav_calendar.connector import CalDAVConnector
from connectors.errors import register_classifier

__all__ = ["CalDAVConnector"]


@register_classifier
def _classify_caldav(exc):
    if "caldav" not in sys.modules:
        return None  # no caldav error can exist before the library is imported
    from connectors.caldav_calendar import dav

    return dav.classify(exc)
