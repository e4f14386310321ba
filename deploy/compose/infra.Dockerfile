# The multi-replica stack's two helpers from Debian's packages, one image for both services of
# docker-compose.replicas.yml: redis-server (the shared state) and haproxy (the load balancer).
# Built on the same python:3.11-slim as our image (Docker Hub's redis and haproxy images may
# not be reachable; python also serves the load balancer's healthcheck). Its build context is
# deploy/compose, whose files it copies.
FROM python:3.11-slim

# Quiet unless it fails, and small: the package lists and apt's caches (78 MB) go in the same
# layer (13 MB left).
RUN apt-get update -qq \
    && { DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --no-install-recommends \
         redis-server haproxy >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }; } \
    && rm -rf /tmp/apt.log /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb

COPY haproxy.cfg /etc/haproxy/orga-replicas.cfg
