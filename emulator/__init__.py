"""orga-emulator: an offline emulator of Orga Cloud's realtime API."""

__version__ = "0.1.0"
