"""Google connectors: Gmail, Google Calendar (google-api-python-client with its bundled discovery
documents) and Google Photos (Picker API and Takeout archives, plain HTTP). Importing the package
registers all three."""

from connectors.google import calendar, gmail, photos  # noqa: F401
