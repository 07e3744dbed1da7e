"""The rules URL family, written once for the four services (issue 11 §2: "one URL family for rules in every
service"). shared/rules.py stays pure (the semantics of versions); this module is its HTTP side.

Under /rules a service offers:
* `GET /rules` — every kind with the version in force today (`in_force`);
* `GET /rules/<kind>` — every version of one kind (`versions`; with `kinds` the path only matches those kinds and
  the OpenAPI lists them as an enum);
* `POST /rules/<kind>` — add a version, one route for every kind when they all take the same body (`add`);
* routes of their own for kinds whose body or answer differs (`routes`, keyed "METHOD path" under /rules:
  courses' "POST length-caps", funding's "GET cost-norms" with query arguments and CSV/XLSX, "POST
  cost-norms/import" with an upload).

Every route runs its use case in the request's unit of work (committed when it returns, rolled back if it raises)
and calls it as `use_case(session, *path_values, *parsed_input)`; every write (POST) needs `writer_role`. A route's
documentation is `doc`: its first paragraph is the OpenAPI summary, as a view's docstring would be.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from marshmallow import Schema

from shared.web import Blueprint, ctx, requires


@dataclass(frozen=True)
class RuleRoute:
    """One route of the family: the use case, its documentation, what it answers and what it reads."""
    use_case: Callable[..., Any]
    doc: str
    answer: Schema | type[Schema]
    status: int = 200
    reads: Schema | type[Schema] | None = None  # the request body (POST) or the query arguments (GET)
    location: str = "json"                      # where `reads` is read from: json, query or files
    apidoc: Mapping[str, Any] = field(default_factory=dict)  # extra OpenAPI (shared.apidoc.answers(...))


def _endpoint(method: str, path: str) -> str:
    words = re.sub(r"<[^>]*>", "kind", path).replace("/", " ").replace("-", " ").split()
    return "_".join(["rules", method.lower(), *words])


def _add_route(blp: Blueprint, method: str, path: str, route: RuleRoute, writer_role: str) -> None:
    def view(*parsed, **path_values):
        with ctx().transaction() as session:
            return route.use_case(session, *path_values.values(), *parsed)

    view.__name__ = view.__qualname__ = _endpoint(method, path)
    view.__doc__ = route.doc
    if route.apidoc:
        view = blp.doc(**route.apidoc)(view)
    view = blp.response(route.status, route.answer)(view)
    if route.reads is not None:
        view = blp.arguments(route.reads, location=route.location)(view)
    if method == "POST":
        view = requires(writer_role)(view)
    blp.route("/rules" + path, methods=[method], endpoint=_endpoint(method, path))(view)


def register_rules_routes(blp: Blueprint, *, writer_role: str, in_force: RuleRoute,
                          versions: RuleRoute | None = None, kinds: Sequence[str] = (),
                          add: RuleRoute | None = None, routes: Mapping[str, RuleRoute] | None = None) -> None:
    """Add the service's rules routes to its API blueprint (see the module's docstring)."""
    kind = f"<any({', '.join(repr(k) for k in kinds)}):kind>" if kinds else "<kind>"
    _add_route(blp, "GET", "", in_force, writer_role)
    # The kinds with routes of their own come before the generic /<kind> ones (Flask prefers static parts anyway).
    for key, route in (routes or {}).items():
        method, _, path = key.partition(" ")
        _add_route(blp, method, "/" + path.strip("/"), route, writer_role)
    if versions is not None:
        _add_route(blp, "GET", "/" + kind, versions, writer_role)
    if add is not None:
        _add_route(blp, "POST", "/" + kind, add, writer_role)
