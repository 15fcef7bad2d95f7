"""The OpenAPI document: every error status each operation can answer, and links.

FastAPI documents only its own 422 shape; the API answers every error as a problem
(:class:`api.errors.Problem`, ``application/problem+json``). :func:`install_openapi` makes the
document say so, once, by rule:

- 401 (with ``WWW-Authenticate``) and 429 (with ``Retry-After``) on every route with a key;
- 404 on routes with a path id or a body that names another resource;
- 409 on routes that write (a conflicting change, or a per-tenant cap reached);
- 400 (a body that cannot be parsed at all) and 413 on routes with a body; 415 on upload
  routes (raw file or multipart);
- 422 on routes with any input; 503 (database unavailable) everywhere.

Links (OpenAPI 3 ``links``) tie each create answer to the routes that read or act on what it
made, so clients and stateful testers can follow ``id`` from one call to the next.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import PROBLEM_MEDIA_TYPE, Problem, ProblemItem, status_title

WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
JSON_MEDIA = "application/json"

#: Created resource -> (method, path) it links to, with the path parameter filled from ``id``.
#: Keyed by (method, path) of the creating operation.
LINKS: dict[tuple[str, str], list[tuple[str, str, str]]] = {
    ("post", "/v1/scripts"): [
        ("GetScript", "get", "/v1/scripts/{script_id}"),
    ],
    ("post", "/v1/campaigns"): [
        ("GetCampaign", "get", "/v1/campaigns/{campaign_id}"),
        ("UpdateCampaign", "patch", "/v1/campaigns/{campaign_id}"),
        ("StartCampaign", "post", "/v1/campaigns/{campaign_id}/start"),
        ("PauseCampaign", "post", "/v1/campaigns/{campaign_id}/pause"),
        ("StopCampaign", "post", "/v1/campaigns/{campaign_id}/stop"),
        ("CampaignStats", "get", "/v1/campaigns/{campaign_id}/stats"),
        ("ImportLeads", "post", "/v1/campaigns/{campaign_id}/leads"),
        ("ListLeads", "get", "/v1/campaigns/{campaign_id}/leads"),
    ],
    ("post", "/v1/calls"): [
        ("GetCall", "get", "/v1/calls/{call_id}"),
        ("GetRecording", "get", "/v1/calls/{call_id}/recording"),
    ],
    ("post", "/v1/webhooks"): [
        ("GetEndpoint", "get", "/v1/webhooks/{endpoint_id}"),
        ("UpdateEndpoint", "patch", "/v1/webhooks/{endpoint_id}"),
        ("ListDeliveries", "get", "/v1/webhooks/{endpoint_id}/deliveries"),
        ("DeleteEndpoint", "delete", "/v1/webhooks/{endpoint_id}"),
    ],
    ("post", "/v1/keys"): [
        ("RevokeKey", "delete", "/v1/keys/{key_id}"),
    ],
    ("post", "/v1/numbers"): [
        ("GetNumber", "get", "/v1/numbers/{number_id}"),
        ("UpdateNumber", "patch", "/v1/numbers/{number_id}"),
        ("DeleteNumber", "delete", "/v1/numbers/{number_id}"),
    ],
    ("post", "/v1/masking/sessions"): [
        ("GetMaskingSession", "get", "/v1/masking/sessions/{session_id}"),
        ("AddParticipant", "post", "/v1/masking/sessions/{session_id}/participants"),
        ("DeleteMaskingSession", "delete", "/v1/masking/sessions/{session_id}"),
    ],
    ("post", "/v1/conferences"): [
        ("GetConference", "get", "/v1/conferences/{conference_id}"),
        ("ListConferenceParticipants", "get", "/v1/conferences/{conference_id}/participants"),
        ("EndConference", "delete", "/v1/conferences/{conference_id}"),
    ],
    ("post", "/v1/callbacks"): [("GetCallback", "get", "/v1/callbacks/{callback_id}")],
}

HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": "Always `Bearer`.",
            "schema": {"type": "string"},
            "required": True,
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
            "required": True,
        }
    },
}

DESCRIPTIONS = {
    400: "The body cannot be parsed at all (malformed JSON or multipart).",
    401: "No API key, or an unknown or revoked one.",
    404: "No such resource for this tenant (another tenant's resources answer 404 too).",
    409: "The change conflicts with the current state, or a per-tenant cap is reached.",
    413: "The body is larger than the route accepts.",
    415: "The body's Content-Type is not one the route reads.",
    422: "A field, line or row is invalid; `errors` names each one.",
    429: "Too many requests (rate limit, or repeated bad keys from this address).",
    503: "The database is unavailable; try again.",
}


def _error_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    statuses = {503}
    has_path_id = any(p.get("in") == "path" for p in operation.get("parameters", []))
    body = operation.get("requestBody")
    if operation.get("security"):
        statuses |= {401, 429}
    if has_path_id or (body and operation.get("security")):
        statuses.add(404)
    if method in WRITE_METHODS and operation.get("security"):
        statuses.add(409)
    if body:
        statuses |= {400, 413}
        if set(body.get("content", {})) - {JSON_MEDIA}:
            statuses.add(415)
    if body or operation.get("parameters"):
        statuses.add(422)
    return statuses


def _problem_response(status: int, old: dict[str, Any] | None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Problem"}}
    example = ((old or {}).get("content", {}).get(JSON_MEDIA) or {}).get("example")
    if isinstance(example, dict):
        media["example"] = {
            "type": "about:blank",
            "title": status_title(status),
            "status": status,
            **example,
        }
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status) or (old or {}).get("description") or "Error",
        "content": {PROBLEM_MEDIA_TYPE: media},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def _add_links(paths: dict[str, Any]) -> None:
    for (method, path), targets in LINKS.items():
        creator = paths.get(path, {}).get(method)
        if creator is None:
            continue
        success = next((code for code in creator["responses"] if code.startswith("2")), None)
        if success is None:
            continue
        links: dict[str, Any] = {}
        for name, target_method, target_path in targets:
            target = paths.get(target_path, {}).get(target_method)
            if target is None:
                continue
            params = [p["name"] for p in target.get("parameters", []) if p.get("in") == "path"]
            links[name] = {
                "operationId": target["operationId"],
                "parameters": {f"path.{param}": "$response.body#/id" for param in params},
            }
        if links:
            creator["responses"][success]["links"] = links


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite ``schema`` in place: every error status answers a Problem; links added."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ProblemItem"] = ProblemItem.model_json_schema()
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem_schema.pop("$defs", None)
    components["Problem"] = problem_schema
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(_error_statuses(method, operation)):
                responses[str(status)] = _problem_response(status, responses.get(str(status)))
    _add_links(schema.get("paths", {}))
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve the rewritten document at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = document_problems(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
