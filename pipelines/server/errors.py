"""Errors in TwelveLabs' shape, `{"code": ..., "message": ...}`, for every failure.

Bad input is a 4xx with a reason; nothing a client sends may surface as a 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sceneline.pipelines.filters import FilterError

log = logging.getLogger(__name__)

# TwelveLabs' codes for the statuses sceneline answers with.
CODES = {400: "parameter_invalid", 401: "api_key_invalid", 403: "forbidden", 404: "resource_not_exists",
         405: "method_not_allowed", 409: "resource_conflict", 413: "file_too_large",
         415: "unsupported_media_type", 422: "parameter_invalid", 500: "internal_error"}


class ApiError(Exception):
    """An answer other than success: an HTTP status, a TwelveLabs code, and a reason."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "parameter_invalid")
        self.message = message


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, f"no {kind} with id {ident!r}", code=f"{kind.replace(' ', '_')}_not_exists")


def error_body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path", "header"))
        parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("parameter_invalid", _validation_message(exc)), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own answers (unknown route, a multipart body it cannot parse) keep their status.
        return JSONResponse(error_body(CODES.get(exc.status_code, "parameter_invalid"), str(exc.detail)),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(FilterError)
    async def bad_query(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body("parameter_invalid", str(exc)), status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", f"{type(exc).__name__}: {exc}"), status_code=500)
