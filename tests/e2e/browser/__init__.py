"""Headless Chromium and Firefox driving the SDKs, the demo page and relayed calls."""
