"""The control plane: inspection, determinism, scripted scenarios and fault injection.

A sub-app at /_emulator/ (the demo page's files and dev helper, under /_emulator/demo/ and
/_emulator/dev/, are sub-apps of their own, emulator/demo/). It is the emulator's own addition,
not part of Orga's API. One module per concept:

- app.py: control_app() builds it and connects it to the main app's seams (the token journal,
  the registry's on_open and observer, TURN's fault hook, the request journal);
- plane.py: its state (ControlPlane), hung off the main app as CONTROL;
- routes.py: the one admin route table, behind the admin check; openapi.json documents it;
  dashboard.html shows it;
- journal.py: requests, tokens and applied faults, bounded;
- faults.py: the rule format and matching; inject.py: applying rules (HTTP middleware, the
  session hook, turn_stub's fault hook);
- scenarios.py: scripted AI turns (a Responder); feed.py: the SSE live feed.

Nothing outside this package imports it but emulator/app.py, which mounts it.
"""
