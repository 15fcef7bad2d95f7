"""``GET /metrics``: the process's metrics in the Prometheus text format.

Metrics cover every tenant of the process, so no tenant's API key opens them: the scraper
sends ``Authorization: Bearer TOKEN`` with the operator's ``CALLROBOT_METRICS_TOKEN``. Without
that setting the route answers 404 (metrics are off).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import EngineDep, SettingsDep
from api.errors import problem
from robot import metrics
from robot.crm.outbox import delivery_depth

router = APIRouter(tags=["metrics"])


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request, settings: SettingsDep, engine: EngineDep) -> Response:
    expected = settings.metrics_token
    if expected is None or not expected.get_secret_value():
        return problem(404, "metrics are off: set CALLROBOT_METRICS_TOKEN to serve them")
    given = _bearer(request)
    if given is None or not hmac.compare_digest(
        given.encode("utf-8"), expected.get_secret_value().encode("utf-8")
    ):
        return problem(
            401,
            "Authorization: Bearer CALLROBOT_METRICS_TOKEN needed for /metrics",
            headers={"WWW-Authenticate": "Bearer"},
        )
    metrics.outbox_depth(await run_in_threadpool(delivery_depth, engine))
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE_LATEST)
