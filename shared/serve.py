"""Run one service's web app under gunicorn: `python -m shared.serve <service>` (the command make up and compose run).

The bind address comes from the service settings (HTTP_HOST, <SERVICE>_PORT); everything else from
deploy/gunicorn.conf.py.
"""
from __future__ import annotations

import importlib
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

    def load(self):
        return importlib.import_module(f"services.{self.service}.app").create_app()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m shared.serve <needs|courses|evaluation|funding>", file=sys.stderr)
        return 2
    ServiceApplication(argv[0]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
