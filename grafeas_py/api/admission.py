"""The Kubernetes ValidatingAdmissionWebhook: `POST /v1/admission:review`.

It fails closed: a missing configuration, an unknown policy, any error while judging an image and
an overrun of the internal deadline all deny, with the reason in `status.message`. Only a request
that is not an AdmissionReview at all gets a 400 (and the API server's failurePolicy then applies).
"""

from __future__ import annotations

import logging
import time

from flask import current_app
from flask_smorest import Blueprint

from ..errors import ApiError
from ..gate.admission import NO_IMAGE_OPERATIONS, Review, parse_review, resource_uri, response
from .http import json_body, respond
from .openapi import body_doc

log = logging.getLogger("grafeas_py.admission")
blp = Blueprint("admission", __name__, description="Kubernetes ValidatingAdmissionWebhook; it fails closed.")


@blp.route("/v1/admission:review", methods=["POST"], endpoint="review")
@blp.doc(
    requestBody=body_doc("AdmissionReviewRequest"),
    summary="AdmissionReview",
    description="Judges every image of the object against the policy its namespace maps to "
    "(GRAFEAS_ADMISSION_CONFIG). Any error denies; only a body that is not an AdmissionReview is a 400.",
)
@blp.response(200, "AdmissionReviewResponse")
def admission_review():
    review = parse_review(json_body())
    ext = current_app.extensions["grafeas"]
    try:
        allowed, message, warnings = judge(review, ext.admission, ext.gate)
    except Exception:  # never allow by accident
        log.exception("admission review %s failed", review.uid)
        allowed, message, warnings = False, "grafeas-py could not judge this request (internal error); denied", []
    return respond(response(review.uid, allowed, message, warnings))


def judge(review: Review, config, gate) -> tuple[bool, str, list[str]]:
    """(allowed, message, warnings) for one review."""
    what = f"{review.kind} {review.namespace}/{review.name}".rstrip("/")
    if config is None:
        return False, "grafeas-py has no admission configuration (GRAFEAS_ADMISSION_CONFIG); denied", []
    if review.operation in NO_IMAGE_OPERATIONS:
        return True, f"{review.operation} admits no images", []
    if review.namespace and review.namespace in config.exempt_namespaces:
        return True, f"namespace {review.namespace!r} is exempt from the gate", []
    if review.problem is not None:
        return False, f"grafeas-py cannot judge {what}: {review.problem}; denied", []
    policy = config.policy_for(review.namespace)
    if policy is None:
        return False, f"no gate policy is configured for namespace {review.namespace!r}; denied", []
    project, policy_id = policy
    deadline = time.monotonic() + config.deadline_seconds
    glass = {"justification": review.breakglass} if review.breakglass else None
    denials, warnings = [], []
    for image in review.images:
        if time.monotonic() > deadline:
            return False, f"grafeas-py could not judge {what} within {config.deadline_seconds:g}s; denied", warnings
        try:
            decision = gate.evaluate(project, policy_id, resource_uri(image), glass, record_it=not review.dry_run)
        except ApiError as exc:
            denials.append(f"{image}: {exc.message}")
            continue
        if not decision["allowed"]:
            reasons = "; ".join(v["message"] for v in decision["violations"]) or decision["decision"]
            denials.append(f"{image}: {reasons}")
        warnings += [f"{image}: {w['message']}" for w in decision["warnings"]]
        if decision.get("breakglass"):
            warnings.append(f"{image}: admitted by breakglass ({review.breakglass})")
    if time.monotonic() > deadline:
        return False, f"grafeas-py could not judge {what} within {config.deadline_seconds:g}s; denied", warnings
    if denials:
        return False, f"grafeas-py denied {what}: " + " | ".join(denials), warnings
    return True, f"{what}: every image passed policy projects/{project}/policies/{policy_id}", warnings
