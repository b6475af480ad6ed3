"""Chinese default messages for marshmallow's fields and validators.

Pages are Chinese by default, and the same schemas validate pages, the API and Excel
imports, so marshmallow's English defaults ("Not a valid integer.") are replaced with
Chinese ones, placeholders kept. API clients get Chinese field messages too, like the UI;
validation messages are not switched per locale.

marshmallow copies these defaults into every field and validator when it is created, i.e.
when a schema class is defined: ``install()`` must run before any schema module is
imported. ``district/__init__.py`` calls it first thing, and every module that defines a
schema imports from ``district`` (or is inside it), so the package is always imported first.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

FIELD_MESSAGES: dict[type, dict[str, str]] = {
    fields.Field: {
        "required": "此项为必填项。",
        "null": "不能为空。",
        "validator_failed": "取值无效。",
    },
    fields.Raw: {},
    fields.Nested: {"type": "类型无效。"},
    fields.List: {"invalid": "不是有效的列表。"},
    fields.Tuple: {"invalid": "不是有效的元组。"},
    fields.String: {"invalid": "不是有效的文本。", "invalid_utf8": "不是有效的 UTF-8 文本。"},
    fields.UUID: {"invalid_uuid": "不是有效的 UUID。"},
    fields.Number: {"invalid": "不是有效的数字。", "too_large": "数值过大。"},
    fields.Integer: {"invalid": "不是有效的整数。"},
    fields.Float: {"special": "不允许使用特殊数值（NaN 或无穷大）。"},
    fields.Decimal: {"special": "不允许使用特殊数值（NaN 或无穷大）。"},
    fields.Boolean: {"invalid": "不是有效的布尔值（是/否）。"},
    fields.DateTime: {
        "invalid": "不是有效的日期时间。",
        "invalid_awareness": "不是有效的日期时间（{awareness}）。",
        "format": "“{input}”无法格式化为日期时间。",
    },
    fields.NaiveDateTime: {"invalid_awareness": "日期时间不能带时区。"},
    fields.AwareDateTime: {"invalid_awareness": "日期时间须带时区。"},
    fields.Time: {
        "invalid": "不是有效的时间。",
        "format": "“{input}”无法格式化为时间。",
    },
    fields.Date: {
        "invalid": "不是有效的日期。",
        "format": "“{input}”无法格式化为日期。",
    },
    fields.TimeDelta: {
        "invalid": "不是有效的时长。",
        "format": "{input!r} 无法格式化为时长。",
    },
    fields.Mapping: {"invalid": "不是有效的键值映射。"},
    fields.Url: {"invalid": "不是有效的网址。"},
    fields.Email: {"invalid": "不是有效的电子邮箱地址。"},
    fields.IP: {"invalid_ip": "不是有效的 IP 地址。"},
    fields.IPv4: {"invalid_ip": "不是有效的 IPv4 地址。"},
    fields.IPv6: {"invalid_ip": "不是有效的 IPv6 地址。"},
    fields.IPInterface: {"invalid_ip_interface": "不是有效的 IP 接口。"},
    fields.IPv4Interface: {"invalid_ip_interface": "不是有效的 IPv4 接口。"},
    fields.IPv6Interface: {"invalid_ip_interface": "不是有效的 IPv6 接口。"},
    fields.Enum: {"unknown": "须为以下之一：{choices}。"},
}

SCHEMA_MESSAGES = {"type": "输入类型无效。", "unknown": "未知字段。"}

# (validator class, attribute) -> message; {{min}} in Range survives its own .format().
VALIDATOR_MESSAGES: dict[tuple[type, str], str] = {
    (validate.And, "default_error_message"): "取值无效。",
    (validate.URL, "default_message"): "不是有效的网址。",
    (validate.Email, "default_message"): "不是有效的电子邮箱地址。",
    (validate.Range, "message_min"): "须{min_op} {{min}}。",
    (validate.Range, "message_max"): "须{max_op} {{max}}。",
    (validate.Range, "message_all"): "须{min_op} {{min}}，且{max_op} {{max}}。",
    (validate.Range, "message_gte"): "大于或等于",
    (validate.Range, "message_gt"): "大于",
    (validate.Range, "message_lte"): "小于或等于",
    (validate.Range, "message_lt"): "小于",
    (validate.Length, "message_min"): "长度不能少于 {min}。",
    (validate.Length, "message_max"): "长度不能超过 {max}。",
    (validate.Length, "message_all"): "长度须在 {min} 到 {max} 之间。",
    (validate.Length, "message_equal"): "长度须为 {equal}。",
    (validate.Equal, "default_message"): "须等于 {other}。",
    (validate.Regexp, "default_message"): "格式不符合要求。",
    (validate.Predicate, "default_message"): "输入无效。",
    (validate.NoneOf, "default_message"): "输入无效。",
    (validate.OneOf, "default_message"): "须为以下之一：{choices}。",
    (validate.ContainsOnly, "default_message"): "所选项中有不在以下范围内的：{choices}。",
    (validate.ContainsNoneOf, "default_message"): "所选项中有不允许的值：{values}。",
}

# webargs answers malformed JSON with this fixed text (flaskparser); see district/errors.py.
INVALID_JSON_BODY = "Invalid JSON body."


def install() -> None:
    """Set the Chinese defaults (idempotent)."""
    for cls, messages in FIELD_MESSAGES.items():
        # Each class gets its own dict: assigning into an inherited one would leak upwards.
        cls.default_error_messages = {**cls.__dict__.get("default_error_messages", {}), **messages}
    Schema._default_error_messages = {**Schema._default_error_messages, **SCHEMA_MESSAGES}
    for (cls, attr), message in VALIDATOR_MESSAGES.items():
        setattr(cls, attr, message)
