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

from marshmallow import EXCLUDE, Schema, ValidationError, fields
from marshmallow.utils import missing


class Fallback(Exception):
    """The fast path cannot decide: use marshmallow's full load."""


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
        return _checked(field, _exact(str))
    if kind is fields.Integer:
        return _checked(field, _exact(int))
    if kind is fields.Boolean:
        return _checked(field, _exact(bool))
    if kind is fields.Float:
        return _checked(field, _exact(float, int))
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


def _raise():
    raise Fallback


def compile_loader(schema: Schema) -> Callable[[dict], dict]:
    """Return a fast loader for `schema`; raise TypeError when the schema uses something not supported."""
    if schema.unknown != EXCLUDE:
        raise TypeError("only tolerant (unknown=EXCLUDE) schemas are compiled")
    if any(schema._hooks.values()):
        raise TypeError("schemas with hooks are not compiled")
    plan = []
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        default = field.load_default
        plan.append((key, name, _field_loader(field), field.required, default))

    def load(data):
        if type(data) is not dict:
            raise Fallback
        out = {}
        for key, name, loader, required, default in plan:
            value = data.get(key, missing)
            if value is missing:
                if required:
                    raise Fallback
                if default is not missing:
                    out[name] = default() if callable(default) else default
                continue
            out[name] = loader(value)
        return out

    return load


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
