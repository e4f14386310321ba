"""The control plane at /_emulator: faults, scenarios, inspection, the clock, the live feed."""
