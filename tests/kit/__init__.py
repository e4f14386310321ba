"""Helpers of the suite (never of the installed package): where things are, the tools the
suite drives, the offers it replays, the emulator served in the test's own event loop."""
