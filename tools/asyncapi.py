"""`make asyncapi`: write the whole system's AsyncAPI 3.0 document to docs/asyncapi.json.

    python -m tools.asyncapi [--check] [--output docs/asyncapi.json]

Built by shared.asyncapi from the event catalogue (shared/events.py) and each service's HANDLERS table, with the
canonical names (exchange training.events, no queue prefix), never from this shell's environment, so the file is
the same wherever it is made. `--check` writes nothing and exits 1 when the committed file is out of date.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from shared.asyncapi import SERVICES, document

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "asyncapi.json"


def subscriptions() -> dict[str, list[str]]:
    """Each service's HANDLERS event types (the routing keys its queue is bound to)."""
    return {svc: list(importlib.import_module(f"services.{svc}.handlers").HANDLERS) for svc in SERVICES}


def render() -> str:
    """The whole system's document as the committed text (sorted keys as built, two-space indent, UTF-8)."""
    return json.dumps(document(subscriptions()), ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date, write nothing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `make asyncapi`", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
