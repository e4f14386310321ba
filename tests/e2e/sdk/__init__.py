"""The Orga SDKs (Node and Python backends), published and current, against the emulator."""
