"""API wiring: blueprints, auth scheme in the OpenAPI document, CSRF for cookie callers."""

from __future__ import annotations

from flask import Flask, abort, g, request
from flask_smorest import Api

from district.extensions import csrf

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def register_api(app: Flask, api: Api) -> None:
    import importlib

    from district import FEATURE_MODULES
    from tenants.api import blp as tenants_blp

    blueprints = [tenants_blp]
    for name in FEATURE_MODULES:
        blp = getattr(importlib.import_module(name), "blp", None)
        if blp is not None:
            blueprints.append(blp)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "个人访问令牌 (hq_…)"}
    )
    api.spec.options["security"] = [{"bearer": []}]
    for blp in blueprints:
        csrf.exempt(blp)
        api.register_blueprint(blp)

    @app.before_request
    def _api_guards() -> None:
        if not request.path.startswith("/api/"):
            return
        if (
            request.content_length is not None
            and request.content_length > app.config["MAX_JSON_BYTES"]
            # File uploads (evidence photos, 8 MB each) are bounded by MAX_CONTENT_LENGTH.
            and request.mimetype != "multipart/form-data"
        ):
            abort(413)
        # Token callers are immune to CSRF; browser callers riding the session cookie are not.
        if request.method not in SAFE_METHODS and not g.get("auth_via_token"):
            from flask_login import current_user

            if current_user.is_authenticated:
                csrf.protect()
