from connectors.apple_health.connector import AppleHealth

__all__ = ["AppleHealth"]
