"""Google Takeout archives besides Google Photos (connectors/google/takeout.py): Location History,
YouTube watch history and Maps saved places. Importing the package registers them."""

from connectors.google_takeout import location, maps, youtube  # noqa: F401
