"""docker-compose.yml, the Dockerfile and the options a container needs."""
