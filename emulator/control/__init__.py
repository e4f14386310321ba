"""The control plane: inspection, determinism, scripted scenarios and fault injection.

Everything under /_emulator/ except the demo page's helpers (emulator/demo.py). It is the
emulator's own addition, not part of Orga's API. One module per concept:

- plane.py: the state (ControlPlane), hung off the app as emulator.http.keys.CONTROL;
- journal.py: requests, tokens and applied faults, bounded;
- faults.py: the rule format and matching; inject.py: applying rules (HTTP middleware, the
  session hook, turn_stub's fault hook);
- scenarios.py: scripted AI turns (a Responder); feed.py: the SSE live feed;
- routes.py: the HTTP API; openapi.json documents it; dashboard.html shows it;
- setup.py: install() connects all this to the app.

This package's __init__ imports nothing: emulator.http.keys imports plane.py.
"""
