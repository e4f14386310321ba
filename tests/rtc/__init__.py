"""WebRTC calls made by emulator.testing.client.OrgaClient: offers, data-channel events, the
echo AI's audio, speech turns, and how sessions end."""
