"""Google connectors: Gmail, Google Calendar, Google Health (google-api-python-client with its
bundled discovery documents) and Google Photos (Picker API and Takeout archives, plain HTTP).
Importing the package registers all four."""

from connectors.google import calendar, gmail, health, photos  # noqa: F401
