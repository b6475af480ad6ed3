"""Foreign-object providers for the survey (民主评议) and complaint (投诉) routes.

- ``survey_id``: surveys belong to a district, not a school, so inside district 1 they
  are not secret from its schools ("a"/"b" → None); "d1"/"c" → a survey of district 1/2.
- ``complaint_id``: complaints belong to a school ("a", "b", "c"); none is district-level
  ("d1" → None).
- ``token`` (``/s/<token>``) and ``public_token`` (``/c/<public_token>``) → None, on
  purpose. These are the public, login-free pages: the link itself is the credential,
  so whoever holds a school's link — in any district, logged in or not — is *meant* to
  reach that school's page. The matrix's rule "a foreign id answers 404" therefore does
  not apply to them, and feeding it a token would only test that the page works. What
  must hold instead is that a token reveals and affects only its own school and survey,
  never another school of the same district nor another district; that is tested
  directly in tests/scoring/test_surveys.py and tests/scoring/test_complaints.py
  (``test_token_only_reaches_its_own_school_and_survey``,
  ``test_public_link_only_reaches_its_own_school``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from district.extensions import db
from tenants.scope import unscoped


def survey_id(ctx: Any, owner: str) -> int | None:
    if owner in ("a", "b"):
        return None

    def make() -> int:
        from scoring.models import Survey, SurveyResponse

        w = ctx.world
        district = w.d1 if owner == "d1" else w.d2
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            survey = Survey(
                district_id=district.id,
                title=f"评议-{ctx.marker(owner)}",
                school_year=2025,
                term="autumn",
                questions=[f"问题-{ctx.marker(owner)}", "总体满意吗？"],
                status=Survey.OPEN,
            )
            db.session.add(survey)
            db.session.flush()
            schools = (("a", w.a), ("b", w.b)) if owner == "d1" else (("c", w.c),)
            for school_owner, school in schools:
                db.session.add(
                    SurveyResponse(
                        district_id=district.id,
                        school_id=school.id,
                        survey_id=survey.id,
                        group="parent",
                        answers=[4, 5],
                        mean=4.5,
                        comment=f"意见-{ctx.marker(school_owner)}",
                        answered_on=date(2025, 10, 8),
                    )
                )
            db.session.commit()
            return survey.id

    return ctx.once(("survey", owner), make)


def complaint_id(ctx: Any, owner: str) -> int | None:
    if owner == "d1":
        return None

    def make() -> int:
        from scoring.models import Complaint

        school = {"a": ctx.world.a, "b": ctx.world.b, "c": ctx.world.c}[owner]
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            complaint = Complaint(
                district_id=school.district_id,
                school_id=school.id,
                content=f"投诉-{ctx.marker(owner)}",
                contact=f"电话-{ctx.marker(owner)}",
                year=2025,
                month=10,
            )
            db.session.add(complaint)
            db.session.commit()
            return complaint.id

    return ctx.once(("complaint", owner), make)


def _public(_ctx: Any, _owner: str) -> None:
    # See the module docstring: the link is the credential; tested in tests/scoring/.
    return None


PARAMS = {
    "survey_id": survey_id,
    "complaint_id": complaint_id,
    "token": _public,
    "public_token": _public,
}
