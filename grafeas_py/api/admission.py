"""The Kubernetes ValidatingAdmissionWebhook: `POST /v1/admission:review`.

It fails closed: a missing configuration, an unknown policy, any error while judging an image and
an overrun of the internal deadline all deny, with the reason in `status.message`. Only a request
that is not an AdmissionReview at all, or has no uid to echo, gets a 400 (and the API server's
failurePolicy then applies).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time

from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..auth.roles import POLICIES_EVALUATE
from ..errors import ApiError, PermissionDenied
from ..gate.admission import NO_IMAGE_OPERATIONS, Review, parse_review, resource_uri, response, short_image
from ..storage.engine import sqlite_read_only, timed_out
from .http import json_body, respond
from .openapi import body_doc

log = logging.getLogger("grafeas_py.admission")
blp = Blueprint("admission", __name__, description="Kubernetes ValidatingAdmissionWebhook; it fails closed.")
# Reviews a process judges at once, those still running past their deadline included: on a database
# that does not answer, later reviews are denied at once instead of starting ever more threads.
MAX_JUDGING = 16
_judging = threading.BoundedSemaphore(MAX_JUDGING)


@blp.route("/v1/admission:review", methods=["POST"], endpoint="review")
@blp.doc(
    requestBody=body_doc("AdmissionReviewRequest"),
    summary="AdmissionReview",
    description="Judges every image of the object against the policy its namespace maps to "
    "(GRAFEAS_ADMISSION_CONFIG). Any error denies; only a body that is not an AdmissionReview, or has no "
    "request.uid to echo, is a 400. The answer is in the request's apiVersion (v1 or v1beta1).",
)
@blp.response(200, "AdmissionReviewResponse")
def admission_review():
    review = parse_review(json_body())
    ext = current_app.extensions["grafeas"]
    verdict = (
        _stranger(ext.admission, ext.gate.access)
        or settled(review, ext.admission)
        or _judge_in_time(review, ext.admission, ext.gate, ext.db_timeout)
    )
    return respond(response(review.uid, *verdict, api_version=review.api_version))


Verdict = tuple[bool, str, list[str]]  # (allowed, message, warnings)


def _stranger(config, access) -> Verdict | None:
    """A denial that tells nothing, for a caller that may evaluate none of the configured policies: the
    answers would map namespaces to policies and name the exempt ones to anyone with a token."""
    if config is None or not config.policies:
        return None
    scope = access.scope(POLICIES_EVALUATE)
    if any(project in scope for project, _ in config.policies.values()):
        return None
    return False, "grafeas-py answers only callers that may evaluate a configured gate policy; denied", []


def settled(review: Review, config) -> Verdict | None:
    """The verdict on a review that needs no policy evaluated, or None."""
    if config is None:
        return False, "grafeas-py has no admission configuration (GRAFEAS_ADMISSION_CONFIG); denied", []
    if review.malformed is not None:  # not from an API server: no operation or namespace it names counts
        return False, f"grafeas-py cannot judge {_what(review)}: {review.malformed}; denied", []
    if review.operation in NO_IMAGE_OPERATIONS:
        return True, f"{review.operation} admits no images", []
    if review.namespace and review.namespace in config.exempt_namespaces:
        return True, f"namespace {review.namespace!r} is exempt from the gate", []
    if review.problem is not None:
        return False, f"grafeas-py cannot judge {_what(review)}: {review.problem}; denied", []
    if config.policy_for(review.namespace) is None:
        return False, f"no gate policy is configured for namespace {review.namespace!r}; denied", []
    if not review.images:  # an update that adds no image; any other review without one has a problem
        return True, f"{_what(review)}: the update runs no image it did not run before", []
    return None


def _judge_in_time(review: Review, config, gate, db_timeout: float) -> Verdict:
    """`judge` in a thread of its own, so that the answer is a denial at the deadline whatever the
    judging waits for (a database that stopped answering, a slow policy); checking the clock between
    images alone overran it by as long as one wait lasted. A judging that ends late still records
    its decision, as the gate's verdict on the artifact; the review was already denied."""
    deadline = time.monotonic() + config.deadline_seconds
    if not _judging.acquire(blocking=False):
        return False, f"grafeas-py is still judging {MAX_JUDGING} earlier requests; denied", []
    done, outcome = threading.Event(), []
    context = contextvars.copy_context()  # the caller's principal, for permissions and records

    def run() -> None:
        try:
            outcome.append(context.run(judge, review, config, gate, deadline))
        except (DBAPIError, PoolTimeout) as exc:  # the database is away or slow: no fault of ours to trace
            outcome.append(_database_failed(review, exc, db_timeout))
        except Exception:  # never allow by accident
            log.exception("admission review %s failed", review.uid)
            outcome.append((False, "grafeas-py could not judge this request (internal error); denied", []))
        finally:
            _judging.release()
            done.set()

    threading.Thread(target=run, name="admission", daemon=True).start()
    if done.wait(max(0.0, deadline - time.monotonic())):
        return outcome[0]
    log.warning("admission review %s: no verdict within %gs; denied", review.uid, config.deadline_seconds)
    return _overrun(review, config, [])


def _database_failed(review: Review, exc: Exception, db_timeout: float) -> Verdict:
    """The denial of a review the database failed, saying what the API would say: slow, unreachable or read-only."""
    if timed_out(exc):  # the database is up, but a statement ran past its bound
        log.warning("admission review %s: a database statement timed out: %s", review.uid, exc)
        return False, f"grafeas-py's database lookup timed out (GRAFEAS_DB_TIMEOUT, {db_timeout:g} s); denied", []
    read_only = sqlite_read_only(exc)
    if read_only:  # its decision could not be recorded
        log.error("admission review %s: the database cannot be written: %s", review.uid, read_only)
        return False, f"grafeas-py's database cannot be written: {read_only}; denied", []
    log.warning("admission review %s: the database is unavailable: %s", review.uid, exc)
    return False, "grafeas-py could not reach its database; denied", []


def _what(review: Review) -> str:
    return f"{review.kind or 'the request'} {review.namespace}/{review.name}".rstrip("/")


def _overrun(review: Review, config, warnings: list[str]) -> Verdict:
    return False, f"grafeas-py could not judge {_what(review)} within {config.deadline_seconds:g}s; denied", warnings


def judge(review: Review, config, gate, deadline: float | None = None) -> Verdict:
    """The verdict on one review; images not yet judged at `deadline` (monotonic time; default: the
    config's deadline from now) deny it."""
    early = settled(review, config)
    if early is not None:
        return early
    project, policy_id = config.policy_for(review.namespace)
    if deadline is None:
        deadline = time.monotonic() + config.deadline_seconds
    what = _what(review)
    glass = {"justification": review.breakglass} if review.breakglass else None
    denials, warnings, broken = [], [], []
    for image in review.images:
        if time.monotonic() > deadline:
            return _overrun(review, config, warnings)
        try:
            decision = gate.evaluate(project, policy_id, resource_uri(image), glass, record_it=not review.dry_run)
        except PermissionDenied:  # named, the policy would tell the caller how another team is gated
            message = f"grafeas-py denied {what}: this caller may not evaluate the policy of its namespace"
            return False, message, warnings
        except ApiError as exc:
            denials.append(f"{image}: {exc.message}")
            continue
        if not decision["allowed"]:
            reasons = "; ".join(v["message"] for v in decision["violations"]) or decision["decision"]
            denials.append(f"{image}: {reasons}")
        shown = short_image(image)  # a warning may be cut at 256 characters: keep room for the reason
        warnings += [f"{shown}: {w['message']}" for w in decision["warnings"]]
        if decision.get("breakglass"):
            broken.append(image)
            warnings.append(f"{shown}: admitted by breakglass ({review.breakglass})")
    if time.monotonic() > deadline:
        return _overrun(review, config, warnings)
    if denials:
        return False, f"grafeas-py denied {what}: " + " | ".join(denials), warnings
    policy = f"projects/{project}/policies/{policy_id}"
    if broken:  # saying every image passed would put an override on record as a pass
        return (
            True,
            f"{what}: admitted by breakglass ({review.breakglass}): {', '.join(broken)} failed {policy}",
            warnings,
        )
    return True, f"{what}: every image passed policy {policy}", warnings
