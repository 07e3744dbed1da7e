"""Schema-based fuzzing of one service's app with schemathesis, in process (its WSGI app, no server), bounded so the
four services fit CI: a fixed number of examples per operation and mode, derandomised (the same cases every run),
no shrinking and no example database. Every operation is called with the test tokens (an admin token on /admin),
and every response goes through two checks: no 5xx (`not_a_server_error`) and a body that matches the documented
schema of its status code (`response_schema_conformance`). Failures are collected, not raised at the first one, so
one run reports every failing operation."""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.unit.apps import ADMIN_AUTH, API_AUTH

CHECKS = [not_a_server_error, response_schema_conformance]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


@dataclass
class Report:
    service: str
    operations: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    cases: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)  # operation → distinct failure titles
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)  # status class (2xx, 4xx, …) → cases
    reached: set = field(default_factory=set)  # operations with at least one 2xx answer

    def summary(self) -> str:
        return (f"{self.service}: {len(self.operations)} operations fuzzed ({len(self.excluded)} excluded), "
                f"{self.cases} cases ({', '.join(f'{k}: {v}' for k, v in sorted(self.statuses.items()))}; "
                f"{len(self.reached)} operations answered 2xx), "
                f"{len(self.failures)} failing operations, {self.seconds:.1f} s; slowest: "
                + ", ".join(f"{op} {t:.1f} s" for op, t in sorted(self.timings.items(), key=lambda i: -i[1])[:3]))

    def describe_failures(self) -> str:
        return "\n".join(f"{op}:\n    " + "\n    ".join(titles) for op, titles in sorted(self.failures.items()))


def _detail(failure) -> str:
    message = getattr(failure, "validation_message", None) or failure.message or ""
    path = getattr(failure, "instance_path", None) or getattr(failure, "path", None)
    return f"{message[:200]}" + (f" at {list(path)}" if path else "")


def auth_for(path: str) -> dict[str, str]:
    return ADMIN_AUTH if path.startswith("/admin") else API_AUTH


def _path_names(path: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", path)


def fuzz(app, service: str, *, max_examples: int = 6, excluded: dict[str, str] | None = None,
         modes=MODES, on_case=None, known: dict[str, list] | None = None) -> Report:
    """Fuzz every operation of `app`'s /openapi.json but the `excluded` ones ("METHOD /path" → reason).

    `known` gives real values of path parameters (seeded ids, a feedback token): where an operation's every path
    parameter has some, two thirds of its cases use them, so they reach past the 404 of an unknown id."""
    from hypothesis import strategies as st
    known = {k: v for k, v in (known or {}).items() if v}
    excluded = excluded or {}
    report = Report(service, excluded={k: v for k, v in excluded.items()})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    settings = hypothesis.settings(
        max_examples=max_examples, derandomize=True, database=None, deadline=None,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False)
    started = time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in excluded:
            continue
        report.operations.append(label)
        seen: list[str] = report.failures.setdefault(label, [])
        headers = auth_for(operation.path)
        op_started = time.perf_counter()

        for mode in modes:
            try:
                strategy = operation.as_strategy(generation_mode=mode)
                names = _path_names(operation.path)
                if names and all(n in known for n in names):
                    fixed = [operation.as_strategy(generation_mode=mode, path_parameters={
                        n: known[n][i % len(known[n])] for n in names}) for i in range(2)]
                    strategy = st.one_of(strategy, *fixed)
            except Exception as error:  # an operation with nothing to make negative, say
                if mode is schemathesis.GenerationMode.NEGATIVE:
                    continue
                raise AssertionError(f"{label}: no strategy ({type(error).__name__}: {error})") from error

            @hypothesis.given(strategy)
            @settings
            def run(case):
                case.headers = {**(case.headers or {}), **headers}
                if on_case is not None:
                    on_case(case)
                report.cases += 1
                response = case.call()
                report.statuses[f"{response.status_code // 100}xx"] += 1
                if response.status_code < 300:
                    report.reached.add(label)
                try:
                    case.validate_response(response, checks=CHECKS)
                except schemathesis.errors.FailureGroup as group:
                    for failure in group.exceptions:
                        title = f"[{mode.value}] {type(failure).__name__} {response.status_code}: " \
                                f"{failure.title}: {_detail(failure)}; {case.method} {case.formatted_path} " \
                                f"query={case.query!r} body={str(case.body)[:160]!r} → {response.text[:300]!r}"
                        key = title.split(";")[0]
                        if not any(s.split(";")[0] == key for s in seen):
                            seen.append(title)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                if mode is not schemathesis.GenerationMode.NEGATIVE:
                    raise  # a negative case needs something to break: an operation without inputs has none
        report.timings[label] = time.perf_counter() - op_started
        if not seen:
            del report.failures[label]
    report.seconds = time.perf_counter() - started
    return report
