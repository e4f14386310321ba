"""Whole calls relayed through the embedded TURN server."""
