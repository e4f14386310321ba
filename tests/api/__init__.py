"""The HTTP contract, on the emulator's app in the test's loop with a frozen clock."""
