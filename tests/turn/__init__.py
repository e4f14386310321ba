"""turn_stub, the TURN/STUN server: raw wire tests and real clients (aioice, aiortc, coturn)."""
