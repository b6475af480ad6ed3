"""Import schools and users from an Excel workbook (sheets 学校 and 用户).

Every row is checked first; when any row is wrong the report lists each error
with its sheet and row number and nothing at all is imported.
"""

from __future__ import annotations

import io
import zipfile
from typing import IO, Any

from marshmallow import ValidationError
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from district.exports import safe_row, workbook_response_bytes
from district.extensions import db
from tenants import services
from tenants.models import SCHOOL_LEVELS, Role, School, User, Zone
from tenants.schemas import SchoolSchema, UserSchema
from tenants.services import ImportReport

MAX_ROWS = 5000
SCHOOL_SHEET = "学校"
USER_SHEET = "用户"
SCHOOL_COLUMNS = {
    "学校代码": "code",
    "学校名称": "name",
    "学段": "level",
    "片区": "zone",
    "寄宿制": "boarding",
    "学生数": "student_count",
    "教职工数": "staff_count",
    "校园面积": "campus_area",
    "绿化面积": "green_area",
    "地址": "address",
    "荣誉": "honours",
}
USER_COLUMNS = {
    "用户名": "username",
    "姓名": "display_name",
    "角色": "role",
    "学校代码": "school_code",
    "负责片区": "zones",
    "手机": "phone",
    "初始密码": "password",
}
REQUIRED_SCHOOL = ("学校代码", "学校名称", "学段")
REQUIRED_USER = ("用户名", "姓名", "角色", "初始密码")
ROLE_BY_LABEL = {
    label: code for code, label in Role.LABELS.items() if code != Role.PLATFORM_OPERATOR
}
YES = {"是", "Y", "y", "yes", "1", "TRUE", "true", True}
NO = {"否", "N", "n", "no", "0", "FALSE", "false", False, None, ""}


def template_workbook() -> bytes:
    """An empty workbook with the expected sheets, headers and one example row each."""
    wb = Workbook()
    ws = wb.active
    ws.title = SCHOOL_SHEET
    ws.append(list(SCHOOL_COLUMNS))
    ws.append(
        [
            "XX001",
            "园林一中",
            "初中",
            "城区片",
            "是",
            1200,
            96,
            43000,
            10968,
            "园林路 1 号",
            "市花园式学校",
        ]
    )
    # The inspector example below names 东片 too: the template must import as it stands.
    ws.append(["XX002", "东片中心小学", "小学", "东片", "否", 620, 45, 18000, 5400, "", ""])
    wu = wb.create_sheet(USER_SHEET)
    wu.append(list(USER_COLUMNS))
    wu.append(["yl_head", "黎义波", "校长", "XX001", "", "", "ChangeMe-2026"])
    wu.append(["dc_zhao", "赵忠平", "督查员", "", "城区片；东片", "", "ChangeMe-2026"])
    return workbook_response_bytes(wb)


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _rows(
    ws: Any, columns: dict[str, str], required: tuple[str, ...], sheet: str, report: ImportReport
) -> list[tuple[int, dict[str, Any]]]:
    rows_iter = ws.iter_rows(values_only=True)
    header = next(rows_iter, None)
    if header is None:
        report.errors.append((sheet, 1, "工作表为空，缺少表头"))
        return []
    names = [str(h).strip() if h is not None else "" for h in header]
    missing = [c for c in required if c not in names]
    unknown = [n for n in names if n and n not in columns]
    if missing:
        report.errors.append((sheet, 1, "缺少列：" + "、".join(missing)))
    if unknown:
        report.errors.append((sheet, 1, "无法识别的列：" + "、".join(unknown)))
    if missing or unknown:
        return []
    out = []
    for number, values in enumerate(rows_iter, start=2):
        if number - 1 > MAX_ROWS:
            report.errors.append((sheet, number, f"行数超过上限 {MAX_ROWS}"))
            break
        if values is None or all(_cell(v) is None for v in values):
            continue
        out.append(
            (number, {columns[n]: _cell(v) for n, v in zip(names, values, strict=False) if n})
        )
    return out


def _messages(err: ValidationError) -> str:
    parts = []
    for key, msgs in (
        err.messages if isinstance(err.messages, dict) else {"": err.messages}
    ).items():
        text = "；".join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))
        parts.append(f"{key}: {text}" if key else text)
    return "；".join(parts)


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    return [
        p.strip()
        for p in str(value).replace(";", "；").replace("，", "；").split("；")
        if p.strip()
    ]


def import_workbook(stream: IO[bytes]) -> ImportReport:
    """Validate the whole workbook, then import it all or nothing."""
    report = ImportReport()
    data = stream.read()
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        report.errors.append(("", 0, f"无法读取 Excel 文件（.xlsx）：{type(exc).__name__}"))
        return report
    if SCHOOL_SHEET not in wb.sheetnames and USER_SHEET not in wb.sheetnames:
        report.errors.append(
            (
                "",
                0,
                f"找不到工作表「{SCHOOL_SHEET}」或「{USER_SHEET}」（当前工作表：{'、'.join(wb.sheetnames)}）",
            )
        )
        return report

    existing_schools = {s.code: s for s in db.session.scalars(select(School))}
    existing_names = {s.name for s in existing_schools.values()}
    zones = {z.name: z for z in db.session.scalars(select(Zone))}
    new_zone_names: set[str] = set()
    school_rows: list[dict[str, Any]] = []
    seen_codes: set[str] = set()
    seen_names: set[str] = set()

    if SCHOOL_SHEET in wb.sheetnames:
        for number, row in _rows(
            wb[SCHOOL_SHEET], SCHOOL_COLUMNS, REQUIRED_SCHOOL, SCHOOL_SHEET, report
        ):
            boarding = row.get("boarding")
            if boarding in YES:
                row["boarding"] = True
            elif boarding in NO:
                row["boarding"] = False
            else:
                report.errors.append((SCHOOL_SHEET, number, "寄宿制只能填“是”或“否”"))
                continue
            zone_name = row.pop("zone", None)
            row["honours"] = _split(row.get("honours"))
            for key in ("code", "name", "address"):
                if row.get(key) is not None:
                    row[key] = str(row[key])
            payload = {k: v for k, v in row.items() if v is not None}
            try:
                loaded = SchoolSchema().load(payload)
            except ValidationError as err:
                report.errors.append((SCHOOL_SHEET, number, _messages(err)))
                continue
            if loaded["level"] not in SCHOOL_LEVELS:
                report.errors.append((SCHOOL_SHEET, number, "学段无效"))
                continue
            if loaded["code"] in seen_codes or loaded["code"] in existing_schools:
                report.errors.append((SCHOOL_SHEET, number, f"学校代码 {loaded['code']} 重复"))
                continue
            if loaded["name"] in seen_names or loaded["name"] in existing_names:
                report.errors.append((SCHOOL_SHEET, number, f"学校名称 {loaded['name']} 重复"))
                continue
            seen_codes.add(loaded["code"])
            seen_names.add(loaded["name"])
            if zone_name and str(zone_name) not in zones:
                new_zone_names.add(str(zone_name))
            loaded["_zone_name"] = str(zone_name) if zone_name else None
            school_rows.append(loaded)

    user_rows: list[tuple[dict[str, Any], str | None, list[str]]] = []
    seen_users: set[str] = set()
    if USER_SHEET in wb.sheetnames:
        for number, row in _rows(wb[USER_SHEET], USER_COLUMNS, REQUIRED_USER, USER_SHEET, report):
            label = row.get("role")
            role = ROLE_BY_LABEL.get(str(label)) if label else None
            if role is None:
                report.errors.append(
                    (USER_SHEET, number, f"角色“{label}”无效，可选：{'、'.join(ROLE_BY_LABEL)}")
                )
                continue
            school_code = row.pop("school_code", None)
            zone_names = _split(row.pop("zones", None))
            school_code = str(school_code) if school_code is not None else None
            if role in Role.SCHOOL_ROLES and not school_code:
                report.errors.append((USER_SHEET, number, "学校角色必须填写学校代码"))
                continue
            if (
                school_code
                and school_code not in existing_schools
                and school_code not in seen_codes
            ):
                report.errors.append((USER_SHEET, number, f"学校代码 {school_code} 不存在"))
                continue
            unknown_zones = [z for z in zone_names if z not in zones and z not in new_zone_names]
            if unknown_zones:
                report.errors.append(
                    (USER_SHEET, number, "片区不存在：" + "、".join(unknown_zones))
                )
                continue
            payload = {
                "username": str(row.get("username") or ""),
                "display_name": str(row.get("display_name") or ""),
                "role": role,
                "password": str(row.get("password") or ""),
            }
            if row.get("phone") is not None:
                payload["phone"] = str(row["phone"])
            try:
                # The school comes from 学校代码 (checked above, maybe created by this import):
                # partial keeps the schema from demanding a school_id it cannot have yet.
                loaded = UserSchema(exclude=("school_id",)).load(payload, partial=("school_id",))
            except ValidationError as err:
                report.errors.append((USER_SHEET, number, _messages(err)))
                continue
            uname = loaded["username"].lower()
            if uname in seen_users or services._username_taken(loaded["username"]):
                report.errors.append((USER_SHEET, number, f"用户名 {loaded['username']} 已被使用"))
                continue
            seen_users.add(uname)
            user_rows.append(
                (loaded, school_code if role in Role.SCHOOL_ROLES else None, zone_names)
            )

    if report.errors:
        return report

    for name in sorted(new_zone_names):
        zones[name] = services.create_zone({"name": name})
    for row in school_rows:
        zone_name = row.pop("_zone_name")
        row["zone_id"] = zones[zone_name].id if zone_name else None
        existing_schools[row["code"]] = services.create_school(row)
        report.schools += 1
    for loaded, school_code, zone_names in user_rows:
        if school_code:
            loaded["school_id"] = existing_schools[school_code].id
        if loaded["role"] == Role.INSPECTOR:
            loaded["zone_ids"] = [zones[z].id for z in zone_names]
        services.create_user(loaded)
        report.users += 1
    return report


def users_workbook(users: list[User]) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(USER_SHEET)
    ws.append(["用户名", "姓名", "角色", "学校", "负责片区", "状态"])
    for u in users:
        ws.append(
            safe_row(
                [
                    u.username,
                    u.display_name,
                    u.role_label,
                    u.school.name if u.school else "",
                    "；".join(z.name for z in u.zones),
                    "启用" if u.active else "停用",
                ]
            )
        )
    return workbook_response_bytes(wb)
