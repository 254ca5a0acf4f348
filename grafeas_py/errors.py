"""API errors with their gRPC status names, and the one JSON error shape they travel in."""

from __future__ import annotations


class ApiError(Exception):
    """An error a caller can act on: an HTTP status, a gRPC status name and a message."""

    http_status = 500
    status = "INTERNAL"

    def __init__(self, message: str, details: list[dict] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def body(self) -> dict:
        """The Google JSON error body, read by Google's API clients."""
        return {
            "error": {
                "code": self.http_status,
                "message": self.message,
                "status": self.status,
                "details": self.details,
            }
        }


class InvalidArgument(ApiError):
    http_status, status = 400, "INVALID_ARGUMENT"


class UnsupportedEncoding(ApiError):
    http_status, status = 415, "INVALID_ARGUMENT"


class Unauthenticated(ApiError):
    http_status, status = 401, "UNAUTHENTICATED"


class PermissionDenied(ApiError):
    http_status, status = 403, "PERMISSION_DENIED"


class FailedPrecondition(ApiError):
    http_status, status = 400, "FAILED_PRECONDITION"


class NotFound(ApiError):
    http_status, status = 404, "NOT_FOUND"


class AlreadyExists(ApiError):
    http_status, status = 409, "ALREADY_EXISTS"


class Aborted(ApiError):
    http_status, status = 409, "ABORTED"


class Unimplemented(ApiError):
    http_status, status = 501, "UNIMPLEMENTED"


class Unavailable(ApiError):
    http_status, status = 503, "UNAVAILABLE"


# Status names for errors raised by the HTTP layer itself (routing, body limits).
STATUS_BY_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    411: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    414: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    417: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    431: "INVALID_ARGUMENT",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(http_status: int, message: str) -> dict:
    """The error body for a plain HTTP status."""
    return {
        "error": {
            "code": http_status,
            "message": message,
            "status": STATUS_BY_HTTP.get(http_status, "UNKNOWN"),
            "details": [],
        }
    }
