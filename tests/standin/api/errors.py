"""The API's errors as it answers them: a Status object with the HTTP code, reason and message
(apimachinery's pkg/api/errors), which kubectl prints as "Error from server (REASON): MESSAGE"."""

from __future__ import annotations


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": reason,
            "message": message, "code": code, **({"details": details} if details else {})}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, causes: list | None = None, details: dict | None = None):
        super().__init__(message)
        self.body = status(code, reason, message, {**(details or {}), **({"causes": causes} if causes else {})})


def not_found(resource: str, name: str) -> ApiError:
    """errors.NewNotFound: `deployments.apps "web" not found`."""
    return ApiError(404, "NotFound", f'{resource} "{name}" not found', details={"name": name})


CAUSES = {"Invalid value": "FieldValueInvalid", "Required value": "FieldValueRequired",
          "Forbidden": "FieldValueForbidden", "Unsupported value": "FieldValueNotSupported",
          "Duplicate value": "FieldValueDuplicate", "Too long": "FieldValueTooLong"}


def invalid(kind: str, group: str, name: str, problems: list[tuple[str, str, str]]) -> ApiError:
    """errors.NewInvalid: 422 `Kind.group "name" is invalid: [field: Type: detail, ...]`, each
    problem (field, type as field.ErrorType prints it, e.g. 'Invalid value: "x"', detail); one
    problem is written without the brackets, as apimachinery's ToAggregate prints it. Its
    details (kind, group, name, causes) are what kubectl prints: `The Job "x" is invalid: ...`."""
    texts = [f"{field}: {kind_}: {detail}" if detail else f"{field}: {kind_}" for field, kind_, detail in problems]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    causes = [{"reason": CAUSES[kind_.split(":")[0]], "message": f"{kind_}: {detail}" if detail else kind_,
               "field": field} for field, kind_, detail in problems]
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {joined}', causes,
                    {"name": name, "group": group, "kind": kind})
