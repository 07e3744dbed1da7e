"""Gunicorn settings shared by the four web processes; the bind address is set per service by shared.serve."""
import os

workers = int(os.environ.get("WEB_WORKERS") or 2)
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new connections over the workers. On
# one shared socket the worker that wakes first accepts, and a client that keeps its connections alive (the proxy,
# a program, the load test) was served by one worker while the others idled: one core for the whole web (issue 16,
# `make bench-http`: GET 346 → 574–724 requests/s). A worker restarted gracefully drops the connections still in
# its own backlog unless the host sets net.ipv4.tcp_migrate_req=1. WEB_REUSE_PORT=0 goes back to one socket.
reuse_port = (os.environ.get("WEB_REUSE_PORT") or "1") != "0"
# The app builds its engine in create_app(), after the fork: no connection is shared between workers.
preload_app = False
accesslog = None  # our own request log names the route template, never ids or tokens
errorlog = "-"
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()
# Four gunicorns share a host under `make up`: one default control socket would be fought over.
control_socket_disable = True


# --- metrics and traces (issue 15) -------------------------------------------------------------------------------
# prometheus_client's multiprocess mode: each worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR and
# GET /metrics sums every worker's, so a scrape counts all of them whichever worker answers. The directory must be
# set before a worker imports prometheus_client, and start empty: one private folder per gunicorn master (under
# the operator's PROMETHEUS_MULTIPROC_DIR if set, else the system's temporary folder), removed when it exits.
def on_starting(server):
    import tempfile

    base = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"{server.proc_name}-metrics-", dir=base)


def post_fork(server, worker):
    # Traces are set up in the forked worker (a BatchSpanProcessor's thread does not survive a fork); off unless
    # OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_TRACES_EXPORTER ask for them (shared/tracing.py).
    from shared import tracing
    tracing.configure(server.proc_name.removesuffix("-web"))


def worker_exit(server, worker):
    from shared import tracing
    tracing.shutdown()  # flush the spans still queued


def child_exit(server, worker):
    # A dead worker's live gauges go; its counters stay in the sum (prometheus_client's multiprocess rules).
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    import shutil

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and os.path.basename(path).startswith(f"{server.proc_name}-metrics-"):
        shutil.rmtree(path, ignore_errors=True)
