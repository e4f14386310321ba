"""The `orga-emulator` command and `orga-emulator exec`."""
