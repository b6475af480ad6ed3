"""Import every model module so the metadata is complete (Alembic, tests, RLS)."""

from dashboards.models import AwardList, AwardObjection, AwardYear, Bulletin  # noqa: F401
from district.audit import AuditEntry  # noqa: F401
from district.jobs import JobRecord  # noqa: F401
from scoring.evaluation_models import (  # noqa: F401
    EvaluationPlan,
    EvaluationResult,
    EvaluationRound,
    RaterLink,
    RaterToken,
    SchoolEvaluation,
    StaffRating,
)
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
