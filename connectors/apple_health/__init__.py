from connectors.apple_health.connector import AppleHealth
from connectors.apple_health.daily import daily_series

__all__ = ["AppleHealth", "daily_series"]
