"""The foundation's own navigation entries."""

from district.nav import register_nav
from tenants.models import Role

ADMIN, VIEWER, INSPECTOR, HEAD, STAFF, PLATFORM = (
    Role.DISTRICT_ADMIN,
    Role.DISTRICT_VIEWER,
    Role.INSPECTOR,
    Role.SCHOOL_HEAD,
    Role.SCHOOL_STAFF,
    Role.PLATFORM_OPERATOR,
)

register_nav("首页", "core.home", (ADMIN, VIEWER, INSPECTOR, HEAD, STAFF), order=0)
register_nav("学校", "tenants.schools", (ADMIN, VIEWER, INSPECTOR), order=80)
register_nav("片区", "tenants.zones", (ADMIN, VIEWER), order=81)
register_nav("用户", "tenants.users", (ADMIN,), order=82)
register_nav("导入", "tenants.import_sheet", (ADMIN,), order=83)
register_nav("操作记录", "core.audit_log", (ADMIN, VIEWER, HEAD), order=90)
register_nav("任务", "core.jobs", (ADMIN, VIEWER, INSPECTOR, HEAD, STAFF), order=95)
register_nav("区县", "tenants.districts", (PLATFORM,), order=0)
