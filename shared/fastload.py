"""A fast path for marshmallow `load` on the event hot path, compiled from the very same schemas.

marshmallow spends ~0.4 ms loading a course_completed payload with 40 participants — half the budget of a
1,000 events/s consumer. `compile_loader(schema)` walks the schema's declared fields once and returns a
function that checks and converts canonical input (the exact JSON our producers write) with plain Python,
calling the schema's own validators. Anything it does not recognise — a non-canonical value, a missing
required field, a validator failure, a field type or hook it does not know — raises `Fallback`, and the
caller runs the full `schema.load`, which then produces marshmallow's own result or error messages. So the
catalogue stays one marshmallow schema per event; this module only makes the common case cheap.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from marshmallow.utils import missing

_INF = float("inf")


class Fallback(Exception):
    """The fast path cannot decide: use marshmallow's full load."""


def _inline_check(v) -> Callable[[Any], bool] | None:
    """A predicate equal to marshmallow's built-in validator `v` on the values the fast path lets through (str, int,
    bool, list…), or None for any other validator (then it is called as marshmallow would)."""
    if type(v) is validate.Range:
        lo, hi, lo_in, hi_in = v.min, v.max, v.min_inclusive, v.max_inclusive
        return lambda x: ((lo is None or (x >= lo if lo_in else x > lo))
                          and (hi is None or (x <= hi if hi_in else x < hi)))
    if type(v) is validate.OneOf:
        choices = tuple(v.choices)
        return lambda x: x in choices
    if type(v) is validate.Length:
        lo, hi, eq = v.min, v.max, v.equal
        if eq is not None:
            return lambda x: len(x) == eq
        return lambda x: (lo is None or len(x) >= lo) and (hi is None or len(x) <= hi)
    return None


def _typed(field: fields.Field, kind: type) -> Callable[[Any], Any]:
    """A scalar field whose value must be of exactly `kind` (no conversion), as a list's items are (a schema's own
    fields are written inline by _field_lines): one call per value, its built-in validators as predicates (issue
    16: the general path's two closures and validator loop were a third of evaluation's worker draining a backlog)."""
    checks = [_inline_check(v) for v in field.validators]
    if any(c is None for c in checks):
        return _checked(field, _exact(kind))
    allow_none = field.allow_none

    def load(value):
        if type(value) is kind:
            for check in checks:
                if not check(value):
                    raise Fallback
            return value
        if value is None and allow_none:
            return None
        raise Fallback
    return load


def _checked(field: fields.Field, convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    validators = list(field.validators)
    allow_none = field.allow_none

    def load(value):
        if value is None:
            if allow_none:
                return None
            raise Fallback
        out = convert(value)
        for v in validators:
            try:
                v(out)
            except ValidationError:
                raise Fallback from None
        return out

    return load


def _exact(*types):
    def convert(value):
        if type(value) not in types:
            raise Fallback
        return value
    return convert


def _iso(parse, aware: bool | None):
    def convert(value):
        if type(value) is not str:
            raise Fallback
        try:
            out = parse(value)
        except ValueError:
            raise Fallback from None
        if aware and out.tzinfo is None:
            raise Fallback
        return out
    return convert


def _field_loader(field: fields.Field) -> Callable[[Any], Any]:
    if field.pre_load or field.post_load:
        raise TypeError("field hooks are not compiled")
    kind = type(field)
    if kind is fields.String:
        return _typed(field, str)
    if kind is fields.Integer:
        return _typed(field, int)
    if kind is fields.Boolean:
        return _typed(field, bool)
    if kind is fields.Float:
        return _checked(field, _finite)
    if kind is fields.Date and (field.format in (None, "iso", "iso8601")):
        return _checked(field, _iso(dt.date.fromisoformat, None))
    if kind is fields.AwareDateTime and field.format in (None, "iso", "iso8601") and field.default_timezone is None:
        return _checked(field, _iso(dt.datetime.fromisoformat, True))
    if kind is fields.Dict and field.key_field is None and field.value_field is None:
        return _checked(field, lambda v: dict(v) if type(v) is dict else _raise())
    if kind is fields.Nested and not field.many:
        inner = compile_loader(field.schema)
        return _checked(field, inner)
    if kind is fields.List:
        item = _field_loader(field.inner)

        def convert(value):
            if type(value) is not list:
                raise Fallback
            return [item(v) for v in value]
        return _checked(field, convert)
    raise TypeError(f"{kind.__name__} is not compiled")


def _finite(value):
    """A float or int as marshmallow's Float takes it: NaN and ±∞ are refused (allow_nan=False), so they fall back."""
    if type(value) not in (float, int) or value != value or value in (_INF, -_INF):
        raise Fallback
    return value


def _raise():
    raise Fallback


def compile_loader(schema: Schema) -> Callable[[dict], dict]:
    """Return a fast loader for `schema`; raise TypeError when the schema uses something not supported."""
    if schema.unknown != EXCLUDE:
        raise TypeError("only tolerant (unknown=EXCLUDE) schemas are compiled")
    if any(schema._hooks.values()):
        raise TypeError("schemas with hooks are not compiled")
    # The loader is written out as straight-line Python, one block per field, and compiled once per schema: the
    # loop over a plan of tuples it replaces cost as much as the fields' own checks (issue 16). Only the schema's
    # own names appear in the source, as string literals (repr); values stay in the namespace.
    namespace: dict[str, Any] = {"missing": missing, "Fallback": Fallback}
    lines = ["def load(data):", "    if type(data) is not dict:", "        raise Fallback", "    out = {}",
             "    get = data.get"]
    for i, (name, field) in enumerate(schema.load_fields.items()):
        key = field.data_key or name
        default = field.load_default
        lines.append(f"    value = get({key!r}, missing)")
        if field.required:
            lines += ["    if value is missing:", "        raise Fallback"]
            lines += _field_lines(i, name, field, namespace, "    ")
            continue
        lines.append("    if value is not missing:")
        lines += _field_lines(i, name, field, namespace, "        ")
        if default is not missing:
            namespace[f"default_{i}"] = default
            lines += ["    else:", f"        out[{name!r}] = default_{i}()" if callable(default) else
                      f"        out[{name!r}] = default_{i}"]
    lines.append("    return out")
    exec(compile("\n".join(lines), f"<fastload {type(schema).__name__}>", "exec"), namespace)  # noqa: S102
    return namespace["load"]


_SCALARS = {fields.String: "str", fields.Integer: "int", fields.Boolean: "bool"}


def _field_lines(i: int, name: str, field: fields.Field, namespace: dict, indent: str) -> list[str]:
    """The source that checks `value` for field number `i` and stores it as out[name]: a string, integer or boolean
    field with built-in validators only is checked inline (its exact type, None when allowed, each validator as an
    inlined predicate); any other field calls its compiled loader."""
    kind = _SCALARS.get(type(field))
    checks = [_inline_check(v) for v in field.validators] if kind and not (field.pre_load or field.post_load) else [None]
    if kind is None and _plain(field) and type(field) in (fields.List, fields.Nested):
        return _container_lines(i, name, field, namespace, indent)
    if kind is None or any(c is None for c in checks):
        namespace[f"load_{i}"] = _field_loader(field)
        return [f"{indent}out[{name!r}] = load_{i}(value)"]
    lines = [f"{indent}if type(value) is {kind}:"]
    for k, check in enumerate(checks):
        namespace[f"check_{i}_{k}"] = check
        lines += [f"{indent}    if not check_{i}_{k}(value):", f"{indent}        raise Fallback"]
    lines.append(f"{indent}    out[{name!r}] = value")
    if field.allow_none:
        lines += [f"{indent}elif value is None:", f"{indent}    out[{name!r}] = None"]
    lines += [f"{indent}else:", f"{indent}    raise Fallback"]
    return lines


def _plain(field: fields.Field) -> bool:
    """No validators and no hooks: nothing to check beyond the type."""
    return not field.validators and not (field.pre_load or field.post_load)


def _container_lines(i: int, name: str, field: fields.Field, namespace: dict, indent: str) -> list[str]:
    """A list of nested objects or of plain scalars, or one nested object, written inline (the general path wrapped
    each item in two closures: a tenth of decoding a 40-participant course_completed, issue 16). Anything else keeps
    its compiled loader."""
    if type(field) is fields.Nested:
        if field.many:
            namespace[f"load_{i}"] = _field_loader(field)  # raises TypeError: not compiled, as before
            return [f"{indent}out[{name!r}] = load_{i}(value)"]
        namespace[f"nested_{i}"] = compile_loader(field.schema)
        lines = [f"{indent}if type(value) is dict:", f"{indent}    out[{name!r}] = nested_{i}(value)"]
    else:
        inner = field.inner
        scalar = _SCALARS.get(type(inner))
        if type(inner) is fields.Nested and not inner.many and _plain(inner) and not inner.allow_none:
            namespace[f"item_{i}"] = compile_loader(inner.schema)  # refuses anything but a dict, as _checked did
            lines = [f"{indent}if type(value) is list:", f"{indent}    out[{name!r}] = [item_{i}(v) for v in value]"]
        elif scalar and _plain(inner) and not inner.allow_none:
            lines = [f"{indent}if type(value) is list:", f"{indent}    for v in value:",
                     f"{indent}        if type(v) is not {scalar}:", f"{indent}            raise Fallback",
                     f"{indent}    out[{name!r}] = list(value)"]
        else:
            namespace[f"load_{i}"] = _field_loader(field)
            return [f"{indent}out[{name!r}] = load_{i}(value)"]
    if field.allow_none:
        lines += [f"{indent}elif value is None:", f"{indent}    out[{name!r}] = None"]
    return lines + [f"{indent}else:", f"{indent}    raise Fallback"]


def fast_load(schema: Schema, data: Any, _cache: dict = {}) -> Any:  # noqa: B006 - per-process cache by design
    """Load `data` with the compiled fast path when possible, else with `schema.load` (same result)."""
    loader = _cache.get(id(schema))
    if loader is None:
        try:
            loader = compile_loader(schema)
        except TypeError:
            loader = schema.load
        _cache[id(schema)] = loader
    try:
        return loader(data)
    except Fallback:
        return schema.load(data)


# --- the producer's side: dump ---------------------------------------------------------------------------------

def _dump_exact(kind, convert=None):
    def dump(value):
        if value is None:
            return None
        if type(value) is not kind:
            raise Fallback
        return convert(value) if convert else value
    return dump


def _dump_float(value):
    if value is None:
        return None
    if type(value) is int:
        return float(value)
    if type(value) is not float or value != value or value in (_INF, -_INF):  # NaN/∞: marshmallow refuses them
        raise Fallback
    return value



def _field_dumper(field: fields.Field) -> Callable[[Any], Any]:
    kind = type(field)
    if kind is fields.String:
        return _dump_exact(str)
    if kind is fields.Integer and not field.as_string:
        return _dump_exact(int)
    if kind is fields.Float and not field.as_string:
        return _dump_float
    if kind is fields.Boolean:
        return lambda v: v  # marshmallow dumps a Boolean as given; the load that follows checks it
    if kind is fields.Date and field.format in (None, "iso", "iso8601"):
        return _dump_exact(dt.date, dt.date.isoformat)
    if kind in (fields.DateTime, fields.AwareDateTime) and field.format in (None, "iso", "iso8601"):
        return _dump_exact(dt.datetime, dt.datetime.isoformat)
    if kind is fields.Dict and field.key_field is None and field.value_field is None:
        return _dump_exact(dict, dict)
    if kind is fields.Nested and not field.many and field.only is None and not field.exclude:
        return _nullable(compile_dumper(field.schema))
    if kind is fields.List:
        item = _field_dumper(field.inner)

        def dump(value):
            if value is None:
                return None
            if type(value) not in (list, tuple):
                raise Fallback
            return [item(v) for v in value]
        return dump
    raise TypeError(f"{kind.__name__} is not compiled")


def _nullable(dump):
    return lambda value: None if value is None else dump(value)


def compile_dumper(schema: Schema) -> Callable[[dict], dict]:
    """Return a fast `schema.dump` for dicts of plain values; raise TypeError when the schema uses something not
    supported. The fast dump raises Fallback on anything it does not recognise (a value of another type, NaN)."""
    if any(schema._hooks.values()) or schema.many:
        raise TypeError("schemas with hooks are not compiled")
    plan = []
    for name, field in schema.dump_fields.items():
        if field.dump_default is not missing:
            raise TypeError("dump defaults are not compiled")
        plan.append((name, field.data_key or name, _field_dumper(field)))

    def dump(obj):
        if type(obj) is not dict:
            raise Fallback
        out = {}
        for name, key, dumper in plan:
            value = obj.get(name, missing)
            if value is not missing:
                out[key] = dumper(value)
        return out

    return dump


def fast_dump(schema: Schema, obj: Any, _cache: dict = {}) -> dict:  # noqa: B006 - per-process cache by design
    """Dump `obj` with the compiled fast path; raise Fallback when it cannot (the caller then runs marshmallow)."""
    dumper = _cache.get(id(schema))
    if dumper is None:
        try:
            dumper = compile_dumper(schema)
        except TypeError:
            dumper = _raise_fallback
        _cache[id(schema)] = dumper
    return dumper(obj)


def _raise_fallback(_obj):
    raise Fallback
