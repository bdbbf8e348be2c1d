from connectors.apple_photos.connector import ApplePhotos

__all__ = ["ApplePhotos"]
