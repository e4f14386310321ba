"""TLS mode: the local CA, its certificates, and the hints printed for clients."""
