"""Gunicorn settings shared by the four web processes; the bind address is set per service by shared.serve."""
import os

workers = int(os.environ.get("WEB_WORKERS") or 2)
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
# The app builds its engine in create_app(), after the fork: no connection is shared between workers.
preload_app = False
accesslog = None  # our own request log names the route template, never ids or tokens
errorlog = "-"
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()
# Four gunicorns share a host under `make up`: one default control socket would be fought over.
control_socket_disable = True
