# The multi-replica stack's two helpers from Debian's packages, one image for both services of
# docker-compose.replicas.yml: redis-server (the shared state) and haproxy (the load balancer).
# Built on the same python:3.11-slim as our image (Docker Hub's redis and haproxy images may
# not be reachable; python also serves the load balancer's healthcheck). Its build context is
# deploy/compose, whose files it copies.
FROM python:3.11-slim

RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -qq -y --no-install-recommends \
        redis-server haproxy >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

COPY haproxy.cfg /etc/haproxy/orga-replicas.cfg
