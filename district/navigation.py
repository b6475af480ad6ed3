"""The foundation's own navigation entries."""

from district.nav import register_nav
from tenants.models import Role

A, V, I, H, S, P = (
    Role.DISTRICT_ADMIN,
    Role.DISTRICT_VIEWER,
    Role.INSPECTOR,
    Role.SCHOOL_HEAD,
    Role.SCHOOL_STAFF,
    Role.PLATFORM_OPERATOR,
)

register_nav("首页", "core.home", (A, V, I, H, S), order=0)
register_nav("学校", "tenants.schools", (A, V, I), order=80)
register_nav("片区", "tenants.zones", (A, V), order=81)
register_nav("用户", "tenants.users", (A,), order=82)
register_nav("导入", "tenants.import_sheet", (A,), order=83)
register_nav("操作记录", "core.audit_log", (A, V, H), order=90)
register_nav("任务", "core.jobs", (A, V, I, H, S), order=95)
register_nav("区县", "tenants.districts", (P,), order=0)
