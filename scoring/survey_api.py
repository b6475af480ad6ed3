"""Satisfaction surveys (民主评议) and complaints (投诉): the JSON API (``blp``) under
/api/v1. The pages are in :mod:`scoring.survey_views`, which re-exports ``blp``.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint

from scoring import complaints as cs
from scoring import surveys as ss
from scoring.models import Complaint, Survey
from scoring.survey_public import token_url
from tenants.auth import roles_required
from tenants.models import Role, School
from tenants.services import get_or_404

blp = ApiBlueprint("api_surveys", __name__, url_prefix="/api/v1", description="民主评议与投诉")

ADMIN = (Role.DISTRICT_ADMIN,)
READERS = (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER, Role.SCHOOL_HEAD)
LINK_MAKERS = (Role.DISTRICT_ADMIN, Role.SCHOOL_HEAD)


@blp.route("/surveys")
class Surveys(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ss.SurveySchema(many=True))
    def get(self) -> Any:
        """Satisfaction surveys (民主评议) of the district."""
        return ss.list_surveys()

    @roles_required(*ADMIN)
    @blp.arguments(ss.SurveySchema)
    @blp.response(201, ss.SurveySchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Open a survey for a semester (school_year = the September it starts in)."""
        return ss.create_survey(data)


@blp.route("/surveys/<int:survey_id>")
class SurveyItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ss.SurveySchema)
    def get(self, survey_id: int) -> Any:
        return get_or_404(Survey, survey_id)


@blp.route("/surveys/<int:survey_id>/close")
class SurveyClose(MethodView):
    @roles_required(*ADMIN)
    @blp.response(200, ss.SurveySchema)
    def post(self, survey_id: int) -> Any:
        """Close a survey: its links stop accepting answers."""
        return ss.close_survey(get_or_404(Survey, survey_id))


@blp.route("/surveys/<int:survey_id>/tokens")
class SurveyTokens(MethodView):
    @roles_required(*LINK_MAKERS)
    @blp.arguments(ss.SurveyTokenRequestSchema)
    @blp.response(201, ss.SurveyTokenSchema(many=True))
    def post(self, data: dict[str, Any], survey_id: int) -> Any:
        """Create one-use answer links for a school and group (a school head: own school)."""
        survey = get_or_404(Survey, survey_id)
        school = get_or_404(School, data["school_id"])
        made = ss.issue_tokens(survey, school, data["group"], data["count"])
        return [
            {"group": t.group, "token": t.token, "url": token_url(t.token), "used": False}
            for t in made
        ]


@blp.route("/surveys/<int:survey_id>/results")
class SurveyResults(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ss.SurveyResultsSchema)
    def get(self, survey_id: int) -> Any:
        """Answers, group means (1–5) and satisfaction (0–100) per visible school."""
        return ss.results_payload(get_or_404(Survey, survey_id))


@blp.route("/complaints")
class Complaints(MethodView):
    @roles_required(*READERS)
    @blp.arguments(cs.ComplaintArgsSchema, location="query")
    @blp.response(200, cs.ComplaintSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Complaints (投诉) visible to the caller; contact only for district staff."""
        items, _total = cs.list_complaints(
            status=args.get("status"),
            school_id=args.get("school_id"),
            month=cs.parse_month(args.get("month")),
            page=args["page"],
            per_page=args["per_page"],
        )
        return cs.with_school_names(items)


@blp.route("/complaints/<int:complaint_id>")
class ComplaintItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, cs.ComplaintSchema)
    def get(self, complaint_id: int) -> Any:
        return cs.with_school_names([get_or_404(Complaint, complaint_id)])[0]


@blp.route("/complaints/<int:complaint_id>/verdict")
class ComplaintVerdict(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(cs.ComplaintVerdictSchema)
    @blp.response(200, cs.ComplaintSchema)
    def post(self, data: dict[str, Any], complaint_id: int) -> Any:
        """Mark verified (查实) or unfounded (不实) with a note; send ``version`` (409 if stale)."""
        item = get_or_404(Complaint, complaint_id)
        return cs.with_school_names([cs.decide(item, data)])[0]
