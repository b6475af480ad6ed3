"""Excel for the staff roster (sheet 人员), compliance, training attendees and coverage.

Imports check every row first and import nothing when any row is wrong (the
report lists each problem with its row number). Exports go through
:func:`district.exports.safe_row`, so a name like ``=HYPERLINK(…)`` stays text.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from marshmallow import ValidationError
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from district.exports import safe_row, workbook_response_bytes
from district.extensions import db
from scoring import staff as services
from scoring.staff_models import EMPLOYMENT_TYPES, FIVE_ROLES, StaffMember, TrainingSession
from tenants.models import School

ROSTER_SHEET = "人员"
ATTENDEE_SHEET = "参训人员"
MAX_ROWS = 5000
BASE_COLUMNS = ("姓名", "性别", "岗位", "用工性质", "入职日期", "手机", "五员角色")
SCHOOL_COLUMNS = ("学校代码", "学校名称")
NOTE_COLUMN = "备注"
FIELD_LABELS = {
    "name": "姓名",
    "gender": "性别",
    "post": "岗位",
    "employment_type": "用工性质",
    "start_date": "入职日期",
    "phone": "手机",
    "five_roles": "五员角色",
    "note": "备注",
    "school_id": "学校代码",
}
_FORMULA_START = ("=", "+", "-", "@")


def cert_columns(kinds: Iterable[str]) -> list[str]:
    out = []
    for kind in kinds:
        out += [f"{kind}号", f"{kind}有效期"]
    return out


def roster_header(kinds: Iterable[str], with_school: bool) -> list[str]:
    head = list(SCHOOL_COLUMNS) if with_school else []
    return head + list(BASE_COLUMNS) + cert_columns(kinds) + [NOTE_COLUMN]


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


# --- export ------------------------------------------------------------------------------


def roster_workbook(school_id: int | None) -> bytes:
    """One school's roster, or every visible school's (then with 学校代码/学校名称)."""
    kinds = services.certificate_kinds()
    schools = services.school_map()
    with_school = school_id is None
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(ROSTER_SHEET)
    ws.append(roster_header(kinds, with_school))
    people = services.list_staff(school_id=school_id)
    people.sort(key=lambda s: (schools[s.school_id].code if s.school_id in schools else "", s.id))
    for person in people:
        row: list[Any] = []
        if with_school:
            school = schools.get(person.school_id)
            row += [school.code if school else "", school.name if school else ""]
        row += [
            person.name,
            person.gender or "",
            person.post,
            person.employment_type,
            _iso(person.start_date),
            person.phone or "",
            "；".join(person.five_roles or []),
        ]
        for kind in kinds:
            cert = services.current_certificate(person, kind)
            row += [cert.number, _iso(cert.expires_on)] if cert else ["", ""]
        row.append(person.note or "")
        ws.append(safe_row(row))
    return workbook_response_bytes(wb)


def roster_template() -> bytes:
    kinds = services.certificate_kinds()
    wb = Workbook()
    ws = wb.active
    ws.title = ROSTER_SHEET
    ws.append(roster_header(kinds, False))
    example = ["王秀兰", "女", "食堂操作员", "合同工", "2021-09-01", "13800138000", "食堂操作员"]
    certs = ["", ""] * len(kinds)
    if "健康证" in kinds:
        i = list(kinds).index("健康证") * 2
        certs[i : i + 2] = ["JK2026001", "2027-03-31"]
    ws.append(example + certs + [""])
    return workbook_response_bytes(wb)


# --- import ------------------------------------------------------------------------------


@dataclass
class RosterImportReport:
    """Outcome of a roster import; nothing was written when ``errors`` is non-empty."""

    created: int = 0
    updated: int = 0
    certificates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        # Our own exports neutralise formula-like text with a leading apostrophe.
        if len(value) > 1 and value[0] == "'" and value[1] in _FORMULA_START:
            value = value[1:]
        return value or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_date(value: Any) -> date | None:
    """Excel dates, or text like 2024-03-01, 2024/3/1, 2024.3.1, 2024年3月1日."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().replace("年", "-").replace("月", "-").replace("日", "")
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(str(value))


def split_roles(value: Any) -> list[str]:
    if value is None:
        return []
    text = str(value)
    for sep in (";", "，", ",", "、"):
        text = text.replace(sep, "；")
    return [p.strip() for p in text.split("；") if p.strip()]


def _messages(err: ValidationError) -> str:
    messages = err.messages if isinstance(err.messages, dict) else {"": err.messages}
    parts = []
    for key, msgs in messages.items():
        label = FIELD_LABELS.get(str(key), str(key))
        if isinstance(msgs, dict):  # list fields: {index: [msg]}
            msgs = [m for sub in msgs.values() for m in (sub if isinstance(sub, list) else [sub])]
        text = "；".join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))
        parts.append(f"{label}：{text}" if label else text)
    return "；".join(parts)


def _open(stream: IO[bytes], sheet: str) -> tuple[Any, str | None]:
    try:
        wb = load_workbook(io.BytesIO(stream.read()), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        return None, f"无法读取 Excel 文件（.xlsx）：{type(exc).__name__}"
    if sheet not in wb.sheetnames:
        return None, f"找不到工作表「{sheet}」（当前工作表：{'、'.join(wb.sheetnames)}）"
    return wb[sheet], None


def _header(ws: Any) -> tuple[list[str], Any]:
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    names = [str(h).strip() if h is not None else "" for h in (header or ())]
    return names, rows


@dataclass
class _Row:
    number: int
    school_id: int
    data: dict[str, Any]
    certs: list[tuple[str, str, date | None]]
    key: tuple[int, str, str | None]


def import_roster(stream: IO[bytes], school_id: int | None) -> RosterImportReport:
    """Validate every row of sheet 人员, then create or update people (matched by school,
    name and phone) and add or update their certificates — all or nothing.

    With a 学校代码 column each row names its school (one the caller may see); without
    it every row goes to ``school_id``.
    """
    report = RosterImportReport()
    ws, problem = _open(stream, ROSTER_SHEET)
    if problem:
        report.errors.append((0, problem))
        return report
    names, rows_iter = _header(ws)
    kinds = services.certificate_kinds()
    posts = set(services.district_posts())
    allowed = set(SCHOOL_COLUMNS) | set(BASE_COLUMNS) | set(cert_columns(kinds)) | {NOTE_COLUMN}
    missing = [c for c in ("姓名", "岗位", "用工性质") if c not in names]
    unknown = [n for n in names if n and n not in allowed]
    if missing:
        report.errors.append((1, "缺少列：" + "、".join(missing)))
    if unknown:
        report.errors.append((1, "无法识别的列：" + "、".join(unknown)))
    if report.errors:
        return report
    by_code = {s.code: s.id for s in services.visible_schools()}
    per_school = "学校代码" in names
    if not per_school and school_id is None:
        report.errors.append((0, "请选择导入到哪所学校，或在表中填写“学校代码”列"))
        return report

    parsed: list[_Row] = []
    seen: dict[tuple[int, str, str | None], int] = {}
    for number, values in enumerate(rows_iter, start=2):
        if number - 1 > MAX_ROWS:
            report.errors.append((number, f"行数超过上限 {MAX_ROWS}"))
            break
        cells = {n: _cell(v) for n, v in zip(names, values or (), strict=False) if n}
        if all(v is None for v in cells.values()):
            continue
        row_errors: list[str] = []
        target = school_id
        if per_school:
            code = cells.get("学校代码")
            target = by_code.get(str(code)) if code is not None else None
            if target is None:
                row_errors.append(f"学校代码“{code or ''}”不存在")
        payload: dict[str, Any] = {
            "name": str(cells["姓名"]) if cells.get("姓名") is not None else None,
            "post": str(cells["岗位"]) if cells.get("岗位") is not None else None,
            "employment_type": _text(cells.get("用工性质")),
            "gender": _text(cells.get("性别")),
            "phone": str(cells["手机"]) if cells.get("手机") is not None else None,
            "note": str(cells[NOTE_COLUMN]) if cells.get(NOTE_COLUMN) is not None else None,
            "five_roles": split_roles(cells.get("五员角色")),
        }
        if payload["name"] is None:
            row_errors.append("姓名不能为空")
        if payload["post"] is None:
            row_errors.append("岗位不能为空")
        elif payload["post"] not in posts:
            row_errors.append(f"岗位“{payload['post']}”不在本区岗位列表中")
        if payload["employment_type"] is None:
            row_errors.append("用工性质不能为空")
        elif payload["employment_type"] not in EMPLOYMENT_TYPES:
            row_errors.append(
                f"用工性质“{payload['employment_type']}”无效，可选：{'、'.join(EMPLOYMENT_TYPES)}"
            )
        bad_roles = [r for r in payload["five_roles"] if r not in FIVE_ROLES]
        if bad_roles:
            row_errors.append(
                f"五员角色“{'、'.join(bad_roles)}”无效，可选：{'、'.join(FIVE_ROLES)}"
            )
        try:
            start = parse_date(cells.get("入职日期"))
            payload["start_date"] = start.isoformat() if start else None
        except ValueError:
            row_errors.append(f"入职日期“{cells.get('入职日期')}”不是有效日期")
        certs: list[tuple[str, str, date | None]] = []
        for kind in kinds:
            number_cell, expiry_cell = cells.get(f"{kind}号"), cells.get(f"{kind}有效期")
            try:
                expiry = parse_date(expiry_cell)
            except ValueError:
                row_errors.append(f"{kind}有效期“{expiry_cell}”不是有效日期")
                continue
            if number_cell is None:
                if expiry is not None:
                    row_errors.append(f"填写了{kind}有效期但没有{kind}号")
                continue
            if len(str(number_cell)) > 64:
                row_errors.append(f"{kind}号过长")
                continue
            certs.append((kind, str(number_cell), expiry))
        if not row_errors:
            try:
                data = services.StaffSchema().load(
                    {k: v for k, v in payload.items() if v is not None}
                )
            except ValidationError as err:
                row_errors.append(_messages(err))
        if row_errors:
            report.errors.append((number, "；".join(row_errors)))
            continue
        key = (int(target), data["name"], data.get("phone"))  # type: ignore[arg-type]
        if key in seen:
            report.errors.append(
                (number, f"与第 {seen[key]} 行重复（同一学校姓名和手机相同）：{data['name']}")
            )
            continue
        seen[key] = number
        parsed.append(_Row(number, int(target), data, certs, key))  # type: ignore[arg-type]

    if report.errors:
        return report
    if not parsed:
        report.errors.append((0, "表中没有人员数据"))
        return report

    existing: dict[tuple[int, str, str | None], list[StaffMember]] = {}
    for person in services.list_staff(include_inactive=True):
        existing.setdefault((person.school_id, person.name, person.phone), []).append(person)
    for row in parsed:
        if len(existing.get(row.key, [])) > 1:
            report.errors.append(
                (
                    row.number,
                    f"系统中已有多名同名同手机的人员“{row.data['name']}”，请先在页面上处理",
                )
            )
    if report.errors:
        return report

    for row in parsed:
        match = existing.get(row.key)
        data = dict(row.data)
        data.setdefault("gender", None)
        data.setdefault("start_date", None)
        data.setdefault("note", None)
        if match:
            person = match[0]
            data["active"] = True
            services.update_staff(person, data)
            report.updated += 1
        else:
            person = services.create_staff({**data, "school_id": row.school_id})
            report.created += 1
        for kind, number, expiry in row.certs:
            same = next(
                (c for c in person.certificates if c.kind == kind and c.number == number), None
            )
            if same is None:
                services.add_certificate(
                    person, {"kind": kind, "number": number, "expires_on": expiry}
                )
                report.certificates += 1
            elif same.expires_on != expiry:
                services.update_certificate(same, {"expires_on": expiry})
                report.certificates += 1
    return report


# --- training attendees ------------------------------------------------------------------


@dataclass
class AttendeeImportReport:
    added: int = 0
    already: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def attendee_template() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = ATTENDEE_SHEET
    ws.append(["学校代码", "姓名", "手机"])
    ws.append(["YL001", "王秀兰", ""])
    return workbook_response_bytes(wb)


def import_attendees(session: TrainingSession, stream: IO[bytes]) -> AttendeeImportReport:
    """Sheet 参训人员 with 学校代码 + 姓名 (手机 when two people share a name)."""
    report = AttendeeImportReport()
    ws, problem = _open(stream, ATTENDEE_SHEET)
    if problem:
        report.errors.append((0, problem))
        return report
    names, rows_iter = _header(ws)
    missing = [c for c in ("学校代码", "姓名") if c not in names]
    if missing:
        report.errors.append((1, "缺少列：" + "、".join(missing)))
        return report
    by_code = {s.code: s.id for s in services.visible_schools()}
    people: dict[tuple[int, str], list[StaffMember]] = {}
    for person in db.session.scalars(select(StaffMember).where(StaffMember.active.is_(True))):
        people.setdefault((person.school_id, person.name), []).append(person)
    ids: list[int] = []
    for number, values in enumerate(rows_iter, start=2):
        if number - 1 > MAX_ROWS:
            report.errors.append((number, f"行数超过上限 {MAX_ROWS}"))
            break
        cells = {n: _cell(v) for n, v in zip(names, values or (), strict=False) if n}
        if all(v is None for v in cells.values()):
            continue
        code, name, phone = cells.get("学校代码"), cells.get("姓名"), cells.get("手机")
        school_id = by_code.get(str(code)) if code is not None else None
        if school_id is None:
            report.errors.append((number, f"学校代码“{code or ''}”不存在"))
            continue
        candidates = people.get((school_id, str(name) if name is not None else ""), [])
        if phone is not None:
            candidates = [p for p in candidates if p.phone == str(phone)]
        if not candidates:
            report.errors.append((number, f"{code} 没有在职人员“{name or ''}”"))
        elif len(candidates) > 1:
            report.errors.append((number, f"{code} 有多名“{name}”，请填写手机以区分"))
        else:
            ids.append(candidates[0].id)
    if report.errors:
        return report
    if not ids:
        report.errors.append((0, "表中没有参训人员"))
        return report
    report.added = services.add_attendees(session, ids)
    report.already = len(set(ids)) - report.added
    return report


# --- other exports -----------------------------------------------------------------------


def compliance_workbook(reports: list[services.SchoolCompliance]) -> bytes:
    """Sheet 汇总 (counts per school) and sheet 明细 (one line per problem). No phones."""
    wb = Workbook(write_only=True)
    summary = wb.create_sheet("汇总")
    summary.append(
        [
            "学校代码",
            "学校名称",
            "在职人员",
            "食堂从业人员",
            "持有效健康证",
            "健康证持证率",
            "无有效健康证",
            "30天内到期证书",
            "已过期证书",
            "五员制空缺",
        ]
    )
    for r in reports:
        share = r.health_share
        summary.append(
            safe_row(
                [
                    r.school_code,
                    r.school_name,
                    r.staff_count,
                    r.canteen_staff,
                    r.canteen_with_health,
                    float(round(share, 4)) if share is not None else "",
                    len(r.missing_health),
                    len(r.expiring),
                    len(r.expired),
                    "；".join(r.unfilled_roles),
                ]
            )
        )
    detail = wb.create_sheet("明细")
    detail.append(["学校代码", "学校名称", "问题", "姓名", "岗位", "证书", "证书编号", "有效期至"])
    for r in reports:
        for i in r.missing_health:
            detail.append(
                safe_row(
                    [
                        r.school_code,
                        r.school_name,
                        i.reason,
                        i.name,
                        i.post,
                        "健康证",
                        "",
                        _iso(i.expired_on),
                    ]
                )
            )
        for label, issues in (("证书30天内到期", r.expiring), ("证书已过期", r.expired)):
            for c in issues:
                detail.append(
                    safe_row(
                        [
                            r.school_code,
                            r.school_name,
                            label,
                            c.name,
                            c.post,
                            c.kind,
                            c.number,
                            _iso(c.expires_on),
                        ]
                    )
                )
        for role in r.unfilled_roles:
            detail.append(
                safe_row([r.school_code, r.school_name, f"五员制空缺：{role}", "", "", "", "", ""])
            )
    return workbook_response_bytes(wb)


def trainings_workbook(rows: list[tuple[TrainingSession, int]]) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("培训")
    ws.append(["日期", "主题", "组织者", "学时", "地点", "参训人数"])
    for session, count in rows:
        ws.append(
            safe_row(
                [
                    _iso(session.held_on),
                    session.topic,
                    session.organiser or "",
                    session.hours if session.hours is not None else "",
                    session.location or "",
                    count,
                ]
            )
        )
    return workbook_response_bytes(wb)


def attendees_workbook(session: TrainingSession, people: list[StaffMember]) -> bytes:
    schools = services.school_map()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(ATTENDEE_SHEET)
    ws.append(["学校代码", "学校名称", "姓名", "岗位", "用工性质", "培训日期", "培训主题"])
    for p in people:
        school: School | None = schools.get(p.school_id)
        ws.append(
            safe_row(
                [
                    school.code if school else "",
                    school.name if school else "",
                    p.name,
                    p.post,
                    p.employment_type,
                    _iso(session.held_on),
                    session.topic,
                ]
            )
        )
    return workbook_response_bytes(wb)


def coverage_workbook(cov: services.Coverage) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(f"{cov.year}年培训覆盖")
    ws.append(["学校代码", "学校名称", "食堂操作员", "本年已培训", "覆盖率"])
    for r in [*cov.rows, cov.total]:
        share = r.share
        ws.append(
            safe_row(
                [
                    r.school_code,
                    r.school_name,
                    r.operators,
                    r.trained,
                    float(round(share, 4)) if share is not None else "",
                ]
            )
        )
    return workbook_response_bytes(wb)
