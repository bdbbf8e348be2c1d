from connectors.quicken.connector import Quicken

__all__ = ["Quicken"]
