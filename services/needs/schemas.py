"""HTTP contract of the needs service."""
from marshmallow import Schema, fields, validate


class UnitSchema(Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    province_code = fields.String()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)


class SuccessionSchema(Schema):
    predecessor_code = fields.String()
    successor_code = fields.String()
    effective_date = fields.Date()
    legal_basis = fields.String()


class UnitDetailSchema(Schema):
    unit = fields.Nested(UnitSchema)
    predecessors = fields.List(fields.Nested(SuccessionSchema))
    successors = fields.List(fields.Nested(SuccessionSchema))


class UnitQueryArgsSchema(Schema):
    as_of = fields.Date(load_default=None, metadata={"description": "units in force on this day"})


class PositionSchema(Schema):
    code = fields.String()
    name = fields.String()
    legacy = fields.Boolean()


_not_blank = validate.Regexp(r".*\S", error="Must not be blank.")


class CivilServantCreateSchema(Schema):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=40), _not_blank])
    full_name = fields.String(required=True, validate=[validate.Length(min=1, max=200), _not_blank])
    gender = fields.String(required=True, validate=validate.OneOf(["female", "male"]))
    birth_year = fields.Integer(required=True, strict=True, validate=validate.Range(min=1940, max=2010))
    ethnicity = fields.String(required=True, validate=[validate.Length(min=1, max=60), _not_blank])
    unit_code = fields.String(required=True, validate=[validate.Length(min=1, max=40), _not_blank])
    position_code = fields.String(required=True, validate=[validate.Length(min=1, max=40), _not_blank])
    hard_area = fields.Boolean(load_default=False)
    child_under_36_months = fields.Boolean(load_default=False)


class CivilServantSchema(CivilServantCreateSchema):
    id = fields.String()
    ethnic_minority = fields.Boolean()
    commune_code = fields.String(metadata={"description": "today's commune (after the 2025-07-01 merger)"})
    created_at = fields.AwareDateTime()


class CivilServantQueryArgsSchema(Schema):
    unit_code = fields.String(load_default=None)
    commune_code = fields.String(load_default=None)
    position_code = fields.String(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class CivilServantPageSchema(Schema):
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    items = fields.List(fields.Nested(CivilServantSchema))
