"""The one entry point: a report's bytes and format in, an IngestPlan out, or InvalidArgument and nothing."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

from grafeas_py.errors import InvalidArgument
from grafeas_py.names import check_id
from grafeas_py.validation import MAX_RESOURCE_URI_LENGTH
from grafeas_py.wire.timestamps import from_datetime

from . import clair, csaf, cyclonedx, dsse, grype, junit, openvex, slsa, spdx, trivy
from .digests import require_resource_digest
from .plan import IngestPlan, PlanBuilder

_INGESTERS: dict[str, Callable[[bytes, PlanBuilder], None]] = {
    "trivy": trivy.ingest,
    "grype": grype.ingest,
    "clair": clair.ingest,
    "spdx": spdx.ingest,
    "cyclonedx": cyclonedx.ingest,
    "slsa": slsa.ingest,
    "junit": junit.ingest,
    "dsse": dsse.ingest,
    "openvex": openvex.ingest,
    "csaf": csaf.ingest,
}
FORMATS: tuple[str, ...] = tuple(_INGESTERS)
# A test result is a claim about exact bytes, and a VEX document names the artifact by its digest: both
# need the artifact's digest in the resource URI.
_NEEDS_DIGEST = frozenset({"junit", "openvex", "csaf"})


def parse_report(
    format: str,
    raw: bytes,
    *,
    resource_uri: str,
    project: str,
    note_project: str,
    now: dt.datetime,
    suite: str | None = None,
) -> IngestPlan:
    """Map one report onto Grafeas notes and occurrences for the artifact at `resource_uri`.

    `project` will hold the occurrences and `note_project` the notes; `now` stands in for the scan
    time when a report does not give one (a naive datetime is taken as UTC); `suite` names the test
    suite of a junit report (junit.configuration). Malformed input raises InvalidArgument whose
    message says where the problem is; no partial plan is ever returned.
    """
    ingest = _INGESTERS.get(format)
    if ingest is None:
        raise InvalidArgument(f"unknown report format {format!r}; supported: {', '.join(FORMATS)}")
    if suite is not None:
        if format != "junit":
            raise InvalidArgument(f"suite names the test suite of a junit report; a {format} report has none")
        ingest = functools.partial(junit.ingest, suite=junit.check_suite(suite))
    check_id("project", project)
    check_id("note project", note_project)
    if not resource_uri:
        raise InvalidArgument("resourceUri is required")
    if len(resource_uri) > MAX_RESOURCE_URI_LENGTH:
        raise InvalidArgument(f"resourceUri must be at most {MAX_RESOURCE_URI_LENGTH} characters")
    if format in _NEEDS_DIGEST:
        require_resource_digest(resource_uri)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    plan = PlanBuilder(format, project, note_project, resource_uri, raw, from_datetime(now))
    try:
        ingest(raw, plan)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid {format} report: {exc.message}") from None
    return plan.build()
