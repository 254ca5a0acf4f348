"""Kubernetes admission (AdmissionReview `admission.k8s.io/v1`, or `v1beta1`, whose request and response
have the same shape for what is read and written here): which images a request admits, which
policy judges them, and the review to answer. Pure: the HTTP view evaluates and records.

Images come from Pods (containers, initContainers, ephemeralContainers, and image volumes, whose
content the kubelet pulls and mounts) and from the pod templates of Deployments, StatefulSets,
DaemonSets, ReplicaSets, ReplicationControllers, Jobs and CronJobs.
An UPDATE is judged on the images it adds to those its `oldObject` ran; one that adds none is admitted.
An image becomes a resource URI as Kritis builds it: `https://` + the fully qualified reference
(`nginx` is `docker.io/library/nginx`). A reference carrying a digest is judged by its digest alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from ..errors import InvalidArgument
from ..names import parse_policy_name
from ..wire.quoting import quoted
from .artifacts import image_reference

API_VERSION = "admission.k8s.io/v1"
# v1beta1 too: a webhook registered with admissionReviewVersions [v1beta1] (as Kritis's is) would get
# a 400 and fall to its failurePolicy, which under Ignore admits. The answer is in the request's version.
API_VERSIONS = (API_VERSION, "admission.k8s.io/v1beta1")
BREAKGLASS_ANNOTATIONS = (
    "grafeas-py.dev/breakglass",
    "image-policy.k8s.io/break-glass",
    "alpha.image-policy.k8s.io/break-glass",
    "kritis.grafeas.io/breakglass",
)
# Values that ask for no breakglass: YAML's words for false, and 0. Any other is a justification.
NO_BREAKGLASS = frozenset({"false", "no", "off", "n", "0"})
_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# Kubernetes documents that a warning over 256 characters may be truncated (and asks for 120 "if
# possible"): cut at 256, after an image prefix kept short by `short_image`, so that the reason survives.
MAX_WARNING = 256
DIGEST_SHOWN = 12  # hex digits of a digest a warning shows, as `docker images` does


@dataclass(frozen=True)
class AdmissionConfig:
    """Which policy judges which namespace, and what is never judged.

    `policies` maps a namespace (or `*` for any other) to `projects/P/policies/ID`. A namespace with
    no policy and no `*` is denied: an unconfigured gate must not let everything through.
    """

    policies: dict[str, tuple[str, str]] = field(default_factory=dict)
    exempt_namespaces: frozenset[str] = frozenset({"kube-system"})
    deadline_seconds: float = 2.5

    def policy_for(self, namespace: str) -> tuple[str, str] | None:
        return self.policies.get(namespace) or self.policies.get("*")


_QUOTE_NAMESPACES = (
    "YAML reads an unquoted no, yes, on, off, true, false, null or number as a boolean, null or number, "
    "so quote such a namespace"
)


def load_config(text: str) -> AdmissionConfig:
    """An AdmissionConfig from YAML or JSON: {namespaces: {ns: policy}, exemptNamespaces: [...], deadlineSeconds}."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"admission config is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("admission config must be a mapping")
    unknown = set(doc) - {"namespaces", "exemptNamespaces", "deadlineSeconds"}
    if unknown:
        raise InvalidArgument(f"admission config: unknown field {quoted(min(unknown))}")
    namespaces = doc.get("namespaces") or {}
    if not isinstance(namespaces, dict):
        raise InvalidArgument("admission config: namespaces must map a namespace to projects/P/policies/ID")
    for ns in namespaces:
        # str() made namespace `no` the key 'False', so it fell through to the `*` policy.
        if not isinstance(ns, str):
            raise InvalidArgument(
                f"admission config: namespaces: the key {ns!r} is not a namespace name; {_QUOTE_NAMESPACES}"
                ' ("no": projects/P/policies/ID)'
            )
    policies = {ns: parse_policy_name(str(name), f"namespaces.{ns}") for ns, name in namespaces.items()}
    exempt = doc.get("exemptNamespaces", ["kube-system"])
    if not isinstance(exempt, list) or not all(isinstance(ns, str) for ns in exempt):
        raise InvalidArgument(
            f'admission config: exemptNamespaces must be a list of namespaces; {_QUOTE_NAMESPACES} (["no"])'
        )
    deadline = doc.get("deadlineSeconds", 2.5)
    if not isinstance(deadline, int | float) or isinstance(deadline, bool) or not 0 < deadline <= 30:
        raise InvalidArgument("admission config: deadlineSeconds must be a number of seconds in (0, 30]")
    return AdmissionConfig(policies, frozenset(exempt), float(deadline))


@dataclass(frozen=True)
class Review:
    """The parts of an AdmissionReview request the gate uses; `problem` says why it cannot be judged."""

    uid: str
    kind: str
    namespace: str
    name: str
    operation: str
    dry_run: bool
    images: list[str]
    breakglass: str | None
    problem: str | None = None
    # A part of the request that is not as the API server sends it: denied whatever the operation or namespace.
    malformed: str | None = None
    api_version: str = API_VERSION


# Operations that start no container (a delete; CONNECT is exec, attach, port-forward).
NO_IMAGE_OPERATIONS = frozenset({"DELETE", "CONNECT"})
_JUDGED_OPERATIONS = frozenset({"CREATE", "UPDATE"})
_JUDGED_KINDS = frozenset({"Pod", "EphemeralContainers", "CronJob", *_TEMPLATE_KINDS})


def parse_review(body) -> Review:
    """The request of an AdmissionReview; one with no uid to echo is a 400 (the API server then applies
    failurePolicy).

    A review that cannot be judged as it stands (an unknown operation or kind, an object without the
    containers every Pod has) is read with a `problem`, and one whose kind or object is not what the API
    server sends with `malformed`; either denies it: the webhook fails closed."""
    if not isinstance(body, dict) or body.get("kind") != "AdmissionReview":
        raise InvalidArgument('expected an AdmissionReview: {"apiVersion": "admission.k8s.io/v1", "kind": ...}')
    api_version = body.get("apiVersion")
    if api_version not in API_VERSIONS:
        expected = " or ".join(API_VERSIONS)
        raise InvalidArgument(f"AdmissionReview apiVersion must be {expected}, got {api_version!r}")
    request = body.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str) or not request["uid"]:
        raise InvalidArgument("AdmissionReview.request.uid is required")
    kind = request.get("kind") or {}
    kind_name = kind.get("kind", "") if isinstance(kind, dict) else ""
    obj = request.get("object")
    malformed = None
    if not isinstance(kind_name, str):
        malformed, kind_name = "AdmissionReview.request.kind.kind is not a kind's name, e.g. Pod", ""
    elif obj is not None and not isinstance(obj, dict):
        malformed, obj = "AdmissionReview.request.object is not an object", None
    operation = request.get("operation")
    operation = operation if isinstance(operation, str) else ""
    # The namespace the API server names, never one the object claims for itself.
    namespace = request.get("namespace")
    namespace = namespace if isinstance(namespace, str) else ""
    metadata = obj.get("metadata") if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) else {}
    problem, images = None, []
    if operation in _JUDGED_OPERATIONS:
        problem = _unjudgeable(kind_name, obj, namespace)
        if problem is None:
            try:
                images = images_of(kind_name, obj)
            except InvalidArgument as exc:
                problem = exc.message
        if problem is None and not images:
            problem = f"the {kind_name} names no container image, which every {kind_name} does"
        if problem is None and operation == "UPDATE":
            images = _not_run_before(images, kind_name, request.get("oldObject"))
    elif operation not in NO_IMAGE_OPERATIONS:
        problem = f"unknown operation {operation!r}; expected CREATE, UPDATE, DELETE or CONNECT"
    return Review(
        uid=request["uid"],
        kind=kind_name,
        namespace=namespace,
        name=str(request.get("name") or metadata.get("name") or ""),
        operation=operation,
        dry_run=bool(request.get("dryRun")),
        images=images,
        breakglass=_breakglass(kind_name, obj or {}),
        problem=problem,
        malformed=malformed,
        api_version=api_version,
    )


def _not_run_before(images: list[str], kind: str, old) -> list[str]:
    """The images an update adds: those its object ran before were judged when they came (a scale-down, a
    finalizer removed or a rollout's old ReplicaSet emptied must not be refused for them). Without an
    object before it to compare with, every image is new."""
    try:
        before = {resource_uri(image) for image in images_of(kind, old)} if isinstance(old, dict) else set()
    except InvalidArgument:  # what it ran cannot be read: judge everything
        before = set()
    return [image for image in images if resource_uri(image) not in before]


def _unjudgeable(kind: str, obj: dict | None, namespace: str) -> str | None:
    if kind not in _JUDGED_KINDS:
        return (
            f"grafeas-py does not know which images a {kind or 'request without a kind'} runs; scope the "
            "webhook's rules to Pods, ephemeral containers and the workload controllers"
        )
    if not namespace:
        return "the review names no namespace"
    if obj is None:
        return f"the review carries no {kind} object"
    return None


def images_of(kind: str, obj: dict) -> list[str]:
    """Every image the object would run or mount, in order (containers, then volumes), without repeats."""
    specs = []
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if kind == "Pod":
        specs.append(spec)
    elif kind == "EphemeralContainers":  # the pods/ephemeralcontainers subresource of older clusters
        specs.append(obj)
    elif kind in _TEMPLATE_KINDS:
        specs.append(_dig(spec, "template", "spec"))
    elif kind == "CronJob":
        specs.append(_dig(spec, "jobTemplate", "spec", "template", "spec"))
    images: dict[str, None] = {}  # ordered, and a lookup per container where a list was a scan
    for pod_spec in specs:
        for key in _CONTAINER_LISTS:
            for container in _entries(kind, pod_spec, key):
                image = container.get("image") if isinstance(container, dict) else None
                if not isinstance(image, str) or not image:
                    raise InvalidArgument(f"{kind} {key} entry has no image")
                images[image] = None
        images.update(dict.fromkeys(_volume_images(kind, pod_spec)))
    return list(images)


def _entries(kind: str, pod_spec, key: str) -> list:
    """The list under `key` of a pod spec; one that is not a list cannot be judged."""
    entries = pod_spec.get(key) if isinstance(pod_spec, dict) else None
    if entries is not None and not isinstance(entries, list):
        raise InvalidArgument(f"{kind} {key} is not a list")
    return entries or []


def _volume_images(kind: str, pod_spec) -> list[str]:
    """The images of a pod spec's image volumes: the kubelet pulls each and mounts its content, which
    a container may run, so each is judged as a container's image is."""
    images = []
    for volume in _entries(kind, pod_spec, "volumes"):
        if not isinstance(volume, dict):
            raise InvalidArgument(f"{kind} volumes entry is not an object")
        source = volume.get("image")
        if source is None:  # another kind of volume
            continue
        reference = source.get("reference") if isinstance(source, dict) else None
        if not isinstance(reference, str) or not reference:
            name = volume.get("name")
            named = f" {quoted(name)}" if isinstance(name, str) else ""
            raise InvalidArgument(f"{kind} image volume{named} has no image reference")
        images.append(reference)
    return images


def _dig(value, *keys):
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


def _breakglass(kind: str, obj: dict) -> str | None:
    """The breakglass justification from the object's (or its pod template's) annotations."""
    for source in (obj, _dig(obj, "spec", "template"), _dig(obj, "spec", "jobTemplate", "spec", "template")):
        annotations = _dig(source, "metadata", "annotations")
        for key in BREAKGLASS_ANNOTATIONS:
            value = annotations.get(key)
            if value and str(value).strip().lower() not in NO_BREAKGLASS:
                text = str(value)
                return f"{key} annotation on {kind}" if text.lower() == "true" else text
    return None


def resource_uri(image: str) -> str:
    """The Grafeas resource URI of an image reference (Kritis's `https://` + the full reference)."""
    return "https://" + image_reference(image)


def short_image(image: str) -> str:
    """The image as a warning names it: a digest cut to its first DIGEST_SHOWN hex digits and `…`."""
    name, at, digest = image.rpartition("@")
    algorithm, colon, hex_digits = digest.partition(":")
    if not at or not colon or len(hex_digits) <= DIGEST_SHOWN:
        return image
    return f"{name}@{algorithm}:{hex_digits[:DIGEST_SHOWN]}…"


def response(uid: str, allowed: bool, message: str, warnings: list[str], api_version: str = API_VERSION) -> dict:
    """An AdmissionReview answer in `api_version`: uid echoed, and on denial a 403 status Kubernetes shows."""
    body: dict = {"uid": uid, "allowed": allowed}
    if allowed:
        body["status"] = {"code": 200, "message": message}
    else:
        body["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    if warnings:
        body["warnings"] = [w if len(w) <= MAX_WARNING else w[: MAX_WARNING - 1] + "…" for w in warnings]
    return {"apiVersion": api_version, "kind": "AdmissionReview", "response": body}
