"""HTTPS emulator of Entra ID's token endpoint and Graph's authorization policy, for tests and the demo."""

from .server import Emulator
from .state import App, Tenant

__all__ = ["App", "Emulator", "Tenant"]
