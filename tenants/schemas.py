"""Marshmallow schemas shared by the pages, the API and the Excel import."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from tenants.models import SCHOOL_LEVELS, Role

LOCALES = ("zh_CN", "en")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class ErrorSchema(Schema):
    code = fields.Int()
    status = fields.Str()
    message = fields.Str()
    errors = fields.Dict()


class DistrictSchema(StrictSchema):
    id = fields.Int(dump_only=True)
    code = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    region = fields.Str(allow_none=True, validate=validate.Length(max=100))


class DistrictCreateSchema(DistrictSchema):
    admin_username = fields.Str(required=True, validate=validate.Length(min=3, max=64))
    admin_name = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    admin_password = fields.Str(
        required=True, load_only=True, validate=validate.Length(min=8, max=128)
    )


class ZoneSchema(StrictSchema):
    id = fields.Int(dump_only=True)
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    code = fields.Str(allow_none=True, validate=validate.Length(max=32))
    version = fields.Int(validate=validate.Range(min=1))
    school_count = fields.Method("_school_count", dump_only=True)

    def _school_count(self, zone: object) -> int:
        return len(getattr(zone, "schools", []) or [])


class SchoolSchema(StrictSchema):
    id = fields.Int(dump_only=True)
    code = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    level = fields.Str(required=True, validate=validate.OneOf(SCHOOL_LEVELS))
    zone_id = fields.Int(allow_none=True)
    zone_name = fields.Method("_zone_name", dump_only=True)
    boarding = fields.Bool(load_default=False)
    student_count = fields.Int(load_default=0, validate=validate.Range(min=0, max=100000))
    staff_count = fields.Int(load_default=0, validate=validate.Range(min=0, max=10000))
    campus_area = fields.Decimal(
        allow_none=True, places=2, as_string=True, validate=validate.Range(min=0, max=10_000_000)
    )
    green_area = fields.Decimal(
        allow_none=True, places=2, as_string=True, validate=validate.Range(min=0, max=10_000_000)
    )
    honours = fields.List(fields.Str(validate=validate.Length(max=100)), load_default=list)
    address = fields.Str(allow_none=True, validate=validate.Length(max=200))
    version = fields.Int(validate=validate.Range(min=1))

    def _zone_name(self, school: object) -> str | None:
        zone = getattr(school, "zone", None)
        return zone.name if zone is not None else None

    @validates_schema
    def _areas(self, data: dict, **_kw: object) -> None:
        campus, green = data.get("campus_area"), data.get("green_area")
        if campus is not None and green is not None and green > campus:
            raise ValidationError("绿化面积不能大于校园面积", "green_area")


class UserSchema(StrictSchema):
    id = fields.Int(dump_only=True)
    username = fields.Str(
        required=True,
        validate=[
            validate.Length(min=3, max=64),
            validate.Regexp(r"^[A-Za-z0-9_.@-]+$", error="用户名只能包含字母、数字和 _ . @ -"),
        ],
    )
    display_name = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    role = fields.Str(
        required=True,
        validate=validate.OneOf([r for r in Role.ALL if r != Role.PLATFORM_OPERATOR]),
    )
    school_id = fields.Int(allow_none=True)
    zone_ids = fields.List(fields.Int(), load_default=list)
    phone = fields.Str(allow_none=True, validate=validate.Length(max=32))
    locale = fields.Str(load_default="zh_CN", validate=validate.OneOf(LOCALES))
    active = fields.Bool(load_default=True)
    password = fields.Str(load_only=True, validate=validate.Length(min=8, max=128))
    version = fields.Int(validate=validate.Range(min=1))
    role_label = fields.Str(dump_only=True)

    @validates_schema
    def _role_needs(self, data: dict, partial: bool = False, **_kw: object) -> None:
        role = data.get("role")
        if role in Role.SCHOOL_ROLES and not data.get("school_id") and not partial:
            raise ValidationError("学校角色必须指定所属学校", "school_id")
        if role in Role.DISTRICT_ROLES and data.get("school_id"):
            raise ValidationError("区级角色不能指定学校", "school_id")


class UserDumpSchema(UserSchema):
    zone_ids = fields.Method("_zones", dump_only=True)
    school_name = fields.Method("_school", dump_only=True)

    def _zones(self, user: object) -> list[int]:
        return [z.id for z in getattr(user, "zones", [])]

    def _school(self, user: object) -> str | None:
        school = getattr(user, "school", None)
        return school.name if school is not None else None


class MeSchema(Schema):
    id = fields.Int()
    username = fields.Str()
    display_name = fields.Str()
    role = fields.Str()
    role_label = fields.Str()
    district_id = fields.Int(allow_none=True)
    school_id = fields.Int(allow_none=True)
    locale = fields.Str()


class PasswordChangeSchema(StrictSchema):
    current_password = fields.Str(required=True, load_only=True)
    new_password = fields.Str(
        required=True, load_only=True, validate=validate.Length(min=8, max=128)
    )


class TokenSchema(StrictSchema):
    id = fields.Int(dump_only=True)
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    expires_in_days = fields.Int(
        load_only=True, load_default=90, validate=validate.Range(min=1, max=366)
    )
    prefix = fields.Str(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    revoked = fields.Bool(dump_only=True)


class TokenCreatedSchema(TokenSchema):
    token = fields.Str(dump_only=True, metadata={"description": "只显示一次"})


class JobSchema(Schema):
    id = fields.Int()
    description = fields.Str()
    status = fields.Str()
    status_label = fields.Str()
    progress = fields.Int()
    message = fields.Str(allow_none=True)
    result = fields.Dict(allow_none=True)
    error = fields.Str(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class AuditEntrySchema(Schema):
    id = fields.Int()
    school_id = fields.Int(allow_none=True)
    actor_name = fields.Str(allow_none=True)
    action = fields.Str()
    object_type = fields.Str()
    object_id = fields.Str(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    created_at = fields.DateTime()


class PageArgsSchema(StrictSchema):
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))
