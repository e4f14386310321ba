"""Real processes and real clients: browsers, the published and current SDKs, the CLI, TLS,
relayed calls, docker-compose's commands, and the pytest plugin in a user's suite."""
