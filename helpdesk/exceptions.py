"""Errors that carry their HTTP status and a message fit to show the person who caused them."""

from __future__ import annotations

from typing import Any


class HelpdeskError(Exception):
    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class InvalidInputError(HelpdeskError):
    status_code = 422
    code = "invalid"

    @classmethod
    def for_field(cls, field: str, message: str) -> InvalidInputError:
        """An error about one field, with ``details`` shaped as the API's validation errors are."""
        return cls(message, details=[{"field": field, "message": message}])

    @property
    def field(self) -> str | None:
        """The field the error is about, when it names one."""
        if isinstance(self.details, list) and self.details and isinstance(self.details[0], dict):
            return self.details[0].get("field")
        return None


class AuthenticationRequiredError(HelpdeskError):
    status_code = 401
    code = "unauthenticated"


class InvalidSignatureError(AuthenticationRequiredError):
    code = "invalid_signature"


class PermissionDeniedError(HelpdeskError):
    status_code = 403
    code = "forbidden"


class NotFoundError(HelpdeskError):
    status_code = 404
    code = "not_found"


class ConflictError(HelpdeskError):
    status_code = 409
    code = "conflict"


class InvalidTransitionError(ConflictError):
    code = "invalid_transition"
