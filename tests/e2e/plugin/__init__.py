"""The pytest plugin, run in a pytest of its own as a user's suite would."""
