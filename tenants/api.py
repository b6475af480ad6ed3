"""JSON API /api/v1: identity, zones, schools, users, tokens, districts, jobs."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from sqlalchemy import select

from district.audit import AuditEntry
from district.extensions import db
from district.jobs import JobRecord
from tenants import services
from tenants.auth import ANY_TENANT_USER, DISTRICT_STAFF, roles_required
from tenants.models import District, Role, School, User, Zone
from tenants.schemas import (
    AuditEntrySchema,
    DistrictCreateSchema,
    DistrictSchema,
    JobSchema,
    MeSchema,
    PageArgsSchema,
    SchoolSchema,
    TokenCreatedSchema,
    TokenSchema,
    UserDumpSchema,
    UserSchema,
    ZoneSchema,
)

blp = Blueprint("api_tenants", __name__, url_prefix="/api/v1", description="组织、账号与任务")

ADMIN = (Role.DISTRICT_ADMIN,)
TOKEN_USERS = [r for r in Role.ALL if r != Role.PLATFORM_OPERATOR]


def _page(stmt: Any, args: dict[str, Any]) -> list[Any]:
    return list(
        db.session.scalars(
            stmt.offset((args["page"] - 1) * args["per_page"]).limit(args["per_page"])
        )
    )


@blp.route("/me")
class Me(MethodView):
    @roles_required(*Role.ALL)
    @blp.response(200, MeSchema)
    def get(self) -> Any:
        """The calling user (当前用户)."""
        return current_user


@blp.route("/districts")
class Districts(MethodView):
    @roles_required(Role.PLATFORM_OPERATOR)
    @blp.response(200, DistrictSchema(many=True))
    def get(self) -> Any:
        """Districts (区县) — platform operator only."""
        return db.session.scalars(select(District).order_by(District.code)).all()

    @roles_required(Role.PLATFORM_OPERATOR)
    @blp.arguments(DistrictCreateSchema)
    @blp.response(201, DistrictSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a district with its first admin."""
        district, _admin = services.create_district_with_admin(data)
        return district


@blp.route("/zones")
class Zones(MethodView):
    @roles_required(*DISTRICT_STAFF, Role.INSPECTOR)
    @blp.response(200, ZoneSchema(many=True))
    def get(self) -> Any:
        """Zones (片区) of the district."""
        return services.list_zones()

    @roles_required(*ADMIN)
    @blp.arguments(ZoneSchema)
    @blp.response(201, ZoneSchema)
    def post(self, data: dict[str, Any]) -> Any:
        return services.create_zone(data)


@blp.route("/zones/<int:zone_id>")
class ZoneItem(MethodView):
    @roles_required(*DISTRICT_STAFF, Role.INSPECTOR)
    @blp.response(200, ZoneSchema)
    def get(self, zone_id: int) -> Any:
        return services.get_or_404(Zone, zone_id)

    @roles_required(*ADMIN)
    @blp.arguments(ZoneSchema(partial=True))
    @blp.response(200, ZoneSchema)
    def patch(self, data: dict[str, Any], zone_id: int) -> Any:
        return services.update_zone(services.get_or_404(Zone, zone_id), data)

    @roles_required(*ADMIN)
    @blp.response(204)
    def delete(self, zone_id: int) -> None:
        services.delete_zone(services.get_or_404(Zone, zone_id))


@blp.route("/schools")
class Schools(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, SchoolSchema(many=True))
    def get(self) -> Any:
        """Schools visible to the caller (a school user sees only their own)."""
        return services.list_schools()

    @roles_required(*ADMIN)
    @blp.arguments(SchoolSchema)
    @blp.response(201, SchoolSchema)
    def post(self, data: dict[str, Any]) -> Any:
        return services.create_school(data)


@blp.route("/schools/<int:school_id>")
class SchoolItem(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, SchoolSchema)
    def get(self, school_id: int) -> Any:
        return services.get_or_404(School, school_id)

    @roles_required(*ADMIN)
    @blp.arguments(SchoolSchema(partial=True))
    @blp.response(200, SchoolSchema)
    def patch(self, data: dict[str, Any], school_id: int) -> Any:
        """Update a school; send ``version`` to be told (409) about a concurrent edit."""
        return services.update_school(services.get_or_404(School, school_id), data)


@blp.route("/users")
class Users(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, UserDumpSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        return services.list_users()[
            (args["page"] - 1) * args["per_page"] : args["page"] * args["per_page"]
        ]

    @roles_required(*ADMIN)
    @blp.arguments(UserSchema)
    @blp.response(201, UserDumpSchema)
    def post(self, data: dict[str, Any]) -> Any:
        return services.create_user(data)


@blp.route("/users/<int:user_id>")
class UserItem(MethodView):
    @roles_required(*ADMIN)
    @blp.response(200, UserDumpSchema)
    def get(self, user_id: int) -> Any:
        return services.get_or_404(User, user_id)

    @roles_required(*ADMIN)
    @blp.arguments(UserSchema(partial=True))
    @blp.response(200, UserDumpSchema)
    def patch(self, data: dict[str, Any], user_id: int) -> Any:
        return services.update_user(services.get_or_404(User, user_id), data)


@blp.route("/tokens")
class Tokens(MethodView):
    @roles_required(*TOKEN_USERS)
    @blp.response(200, TokenSchema(many=True))
    def get(self) -> Any:
        """Your personal access tokens (个人访问令牌)."""
        return services.user_tokens(current_user._get_current_object())

    @roles_required(*TOKEN_USERS)
    @blp.arguments(TokenSchema)
    @blp.response(201, TokenCreatedSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a token; the secret is returned once and never again."""
        token, raw = services.create_token(
            current_user._get_current_object(), data["name"], data["expires_in_days"]
        )
        token.token = raw  # type: ignore[attr-defined]
        return token


@blp.route("/tokens/<int:token_id>")
class TokenItem(MethodView):
    @roles_required(*TOKEN_USERS)
    @blp.response(204)
    def delete(self, token_id: int) -> None:
        services.revoke_token(current_user._get_current_object(), token_id)


@blp.route("/jobs")
class Jobs(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, JobSchema(many=True))
    def get(self) -> Any:
        """Background jobs you started (all of the district's for a district admin)."""
        stmt = select(JobRecord).order_by(JobRecord.id.desc()).limit(100)
        if current_user.role != Role.DISTRICT_ADMIN:
            stmt = stmt.where(JobRecord.user_id == current_user.id)
        return db.session.scalars(stmt).all()


@blp.route("/jobs/<int:job_id>")
class JobItem(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, JobSchema)
    def get(self, job_id: int) -> Any:
        record = services.get_or_404(JobRecord, job_id)
        if current_user.role != Role.DISTRICT_ADMIN and record.user_id != current_user.id:
            abort(404)
        return record


@blp.route("/audit")
class Audit(MethodView):
    @roles_required(Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER, Role.SCHOOL_HEAD)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, AuditEntrySchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Audit trail (操作记录) of the data you may see; read-only."""
        return _page(select(AuditEntry).order_by(AuditEntry.id.desc()), args)
