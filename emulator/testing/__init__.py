"""The test kit: what a test of an app against the emulator needs, and what this repository's
own suite and benchmarks are built on.

- client.py: `OrgaClient`, a WebRTC client that does what the Orga SDKs do;
- backend.py: the backend half alone (client-secrets, ice-config), `OrgaHTTPError`;
- tracks.py: microphones (`PcmTrack`, `ToneBurstTrack`, `PacketTrack`);
- received.py: the AI's audio as received (`ReceivedAudio`); waits.py: waiting on arrivals;
- process.py: the emulator as a process (`start_emulator`);
- pytest_plugin.py: the `orga_emulator` and `orga_client` fixtures (a pytest11 plugin);
- fakedata.py: deterministic fake users, keys and conversations.
"""
