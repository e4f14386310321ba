"""Pure logic: no socket, no process (the markup tests also run @orga-ai/core's own code)."""
