"""Run one service's web app under gunicorn: `python -m shared.serve <service>` (the command make up and compose run).

The bind address comes from the service settings (HTTP_HOST, <SERVICE>_PORT); everything else from
deploy/gunicorn.conf.py.
"""
from __future__ import annotations

import importlib
import socket
import sys

from gunicorn.app.base import BaseApplication

from shared.config import PROJECT_ROOT, load_settings


class ServiceApplication(BaseApplication):
    def __init__(self, service: str):
        self.service = service
        super().__init__()

    def load_config(self):
        settings = load_settings(self.service)
        cfg = {}
        exec(compile((PROJECT_ROOT / "deploy" / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), cfg)
        for key, value in cfg.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)
        self.cfg.set("bind", [f"{settings.http_host}:{settings.http_port}"])
        self.cfg.set("proc_name", f"{self.service}-web")
        # gunicorn's own lines (start, workers booting, timeouts) as JSON too, like the app's.
        json_handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        self.cfg.set("logconfig_dict", {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": "shared.logs.JsonFormatter", "service": self.service}},
            "handlers": {"console": json_handler, "error_console": json_handler},
            "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False,
                                           "qualname": "gunicorn.error"}},
        })

    def run(self):
        if self.cfg.reuse_port:
            host, port = self.cfg.bind[0].rsplit(":", 1)
            refuse_a_taken_port(self.service, host.strip("[]"), int(port))
        super().run()

    def load(self):
        return importlib.import_module(f"services.{self.service}.app").create_app()


def refuse_a_taken_port(service: str, host: str, port: int) -> None:
    """Stop if something already listens on host:port. With reuse_port every worker binds the address itself, and
    the kernel shares it among sockets that all ask for SO_REUSEPORT: a second server started on the same port
    (another stack, a stale one) would silently take half the connections instead of failing at bind as gunicorn
    does with one socket. So bind it once the plain way first."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: a port in TIME_WAIT is free
        try:
            probe.bind(address)
        except OSError as exc:
            raise SystemExit(f"{service}: {host}:{port} is already in use ({exc.strerror}); "
                             f"stop what listens there or set {service.upper()}_PORT") from None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m shared.serve <needs|courses|evaluation|funding>", file=sys.stderr)
        return 2
    ServiceApplication(argv[0]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
