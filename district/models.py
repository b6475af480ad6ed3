"""Import every model module so the metadata is complete (Alembic, tests, RLS)."""

from district.audit import AuditEntry  # noqa: F401
from district.jobs import JobRecord  # noqa: F401
from scoring.models import (  # noqa: F401
    Complaint,
    DistrictSettings,
    Evidence,
    Finding,
    Period,
    Rubric,
    RubricIndicator,
    RubricVersion,
    SchoolMonthResult,
    SelfAssessment,
    SelfAssessmentItem,
    SiteVisit,
    Survey,
    SurveyResponse,
    SurveyToken,
    VisitScore,
)
from scoring.staff_models import (  # noqa: F401
    Certificate,
    StaffMember,
    TrainingAttendance,
    TrainingSession,
)
from tenants.models import AccessToken, District, School, User, Zone  # noqa: F401
