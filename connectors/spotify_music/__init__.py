"""Spotify: recently played (the `after` cursor), saved tracks and playlists through spotipy, and
the account-data export (StreamingHistory / extended streaming history) for the full history.
See plays.py for how API plays and export plays merge without duplicates."""

from connectors.spotify_music import connector  # noqa: F401
