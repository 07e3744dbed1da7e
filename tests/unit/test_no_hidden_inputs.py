"""Issue 11: "No test patches a private function or sets an environment variable to change a rule." Time, limits and
collaborators are passed in (create_app(clock=...), settings, keyword arguments); this guard (standard library,
AST) holds it for every test module: no monkeypatch/mock.patch of a name starting with `_` or of the clocks
(`utcnow`, `local_today`), and no monkeypatch.setenv / os.environ write of a variable the services' settings read.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLOCKS = {"utcnow", "local_today"}
SETTINGS_MODULES = [ROOT / "shared" / "config.py", *sorted((ROOT / "services").glob("*/settings.py"))]


def settings_variables() -> tuple[set[str], set[str]]:
    """(exact names, name suffixes) of the environment variables the settings modules read: env("X", …),
    _env(…), os.environ.get(…) / os.environ[…], with f"{up}_SUFFIX" kept as the suffix `_SUFFIX`."""
    exact, suffixes = set(), set()
    for path in SETTINGS_MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            arg = None
            if isinstance(node, ast.Call) and node.args:
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                if name in ("env", "_env", "get", "getenv"):
                    arg = node.args[0]
            elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
                arg = node.slice
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.isupper():
                exact.add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[-1], ast.Constant):
                suffixes.add(str(arg.values[-1].value))
    return exact, suffixes


def _patched_name(call: ast.Call) -> str | None:
    """The attribute a monkeypatch.setattr / mock.patch(.object) call replaces, when it is written as a literal."""
    f = call.func
    attr = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    owner = ast.unparse(f.value) if isinstance(f, ast.Attribute) else ""
    if attr == "setattr" and "monkeypatch" in owner or attr == "object" and owner.endswith("patch"):
        dotted = call.args and isinstance(call.args[0], ast.Constant)  # monkeypatch.setattr("pkg.mod.name", value)
        target = call.args[0] if dotted else call.args[1] if len(call.args) > 1 else None
    elif attr == "patch" and (owner in ("mock", "unittest.mock") or isinstance(f, ast.Name)):
        target = call.args[0] if call.args else None
    else:
        return None
    if isinstance(target, ast.Constant) and isinstance(target.value, str):
        return target.value.rsplit(".", 1)[-1]
    return None


def _set_variable(node: ast.AST) -> str | None:
    """The variable a monkeypatch.setenv / os.environ[...] = / os.environ.update / putenv writes, if literal."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        owner = ast.unparse(node.func.value)
        if node.func.attr == "setenv" and "monkeypatch" in owner or node.func.attr == "putenv":
            arg = node.args[0]
            return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
        if node.func.attr in ("update", "setdefault") and owner.endswith("environ"):
            arg = node.args[0]
            if isinstance(arg, ast.Dict):
                return next((k.value for k in arg.keys if isinstance(k, ast.Constant)), None)
            return arg.value if isinstance(arg, ast.Constant) else None
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Subscript) and ast.unparse(target.value).endswith("environ") \
                    and isinstance(target.slice, ast.Constant):
                return target.slice.value
    return None


def violations(source: str, where: str, variables: tuple[set[str], set[str]]) -> list[str]:
    exact, suffixes = variables
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _patched_name(node)
            if name is not None and (name.startswith("_") or name in CLOCKS):
                found.append(f"{where}:{node.lineno} patches {name!r}: pass it in instead (clock=, now=, settings)")
        variable = _set_variable(node)
        if variable is not None and (variable in exact or any(variable.endswith(s) for s in suffixes)):
            found.append(f"{where}:{node.lineno} sets {variable}: pass the settings instead")
    return found


def test_no_test_patches_a_private_name_or_a_clock_or_sets_a_settings_variable():
    variables = settings_variables()
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name == Path(__file__).name:
            continue
        found += violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), variables)
    assert found == [], "\n".join(found)


def test_the_guard_sees_each_kind_of_hidden_input():
    variables = settings_variables()
    assert {"MAX_JSON_BYTES", "AMQP_URL", "API_TOKEN"} <= variables[0] and "_DATABASE_URL" in variables[1]
    sample = '''
from unittest import mock
def test_x(monkeypatch):
    monkeypatch.setattr(checkin, "utcnow", lambda: 0)
    monkeypatch.setattr(scope, "local_today", lambda: 0)
    monkeypatch.setattr(module, "_private", 1)
    monkeypatch.setattr("services.x._helper", 1)
    mock.patch.object(module, "_hidden")
    monkeypatch.setenv("MAX_JSON_BYTES", "1")
    monkeypatch.setenv("NEEDS_DATABASE_URL", "sqlite://")
    os.environ["AMQP_URL"] = "amqp://"
    monkeypatch.setattr(module, "PUBLIC_CONSTANT", 1)
    monkeypatch.setenv("UNRELATED_TEST_VARIABLE", "1")
'''
    found = violations(sample, "sample", variables)
    assert sorted((int(f.split(" ", 1)[0].split(":")[1]) for f in found)) == [4, 5, 6, 7, 8, 9, 10, 11], found

