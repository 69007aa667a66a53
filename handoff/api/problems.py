"""Errors of the API as RFC 9457 problem details: one JSON shape, with a code to branch on."""

from flask import current_app, json

PROBLEM_TYPE = "urn:handoff:problem:"
MEDIA_TYPE = "application/problem+json"

# The code of each status, unless the error names a more precise one.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    503: "busy",
}


class ApiProblem(Exception):
    """An answer of the API's that is an error, raised where it is found."""

    def __init__(self, status, title, detail, code=None, errors=None, headers=None):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.code = code or CODES.get(status, "error")
        self.errors = errors or []
        self.headers = headers or {}


class Unauthorized(ApiProblem):
    def __init__(self, detail: str):
        super().__init__(
            401, "No valid token", detail, headers={"WWW-Authenticate": 'Bearer realm="handoff"'}
        )


def problem_response(status, title, detail, code=None, errors=(), headers=None):
    body = {
        "type": PROBLEM_TYPE + (code or CODES.get(status, "error")),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code or CODES.get(status, "error"),
        "errors": [e if isinstance(e, dict) else e.model_dump() for e in errors],
    }
    response = current_app.response_class(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    response.headers.update(headers or {})
    return response


def is_api_request(path: str) -> bool:
    return path == "/api/v1" or path.startswith("/api/")
