"""The Kubernetes ValidatingAdmissionWebhook over HTTP: AdmissionReview v1 (or v1beta1) in and out, failing closed."""

import copy
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from grafeas_py import create_app
from grafeas_py.config import Settings
from grafeas_py.gate.admission import load_config, resource_uri
from grafeas_py.gate.service import MAX_OCCURRENCES
from tests.factories import NOTE_BODIES, OCCURRENCE_DETAILS
from tests.spec_conformance import check_response
from tests.unit.gate.builders import DIGEST

GOOD = f"gcr.io/acme/app@sha256:{DIGEST}"
TAGGED = "gcr.io/acme/app:1.0"


def serve(database_url, config_path, **more):
    settings = Settings(database_url=database_url, admission_config=str(config_path), audit_seal_seconds=0, **more)
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def gate_project():
    return f"k8s-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def webhook(database_url, tmp_path_factory, gate_project):
    """A server whose namespace `prod` is judged by a policy that needs digests, and `slow` by a tiny deadline."""
    path = tmp_path_factory.mktemp("admission") / "admission.yaml"
    path.write_text(
        "namespaces:\n"
        f"  prod: projects/{gate_project}/policies/prod\n"
        f"  dev: projects/{gate_project}/policies/missing\n"
        f"  hub: projects/{gate_project}/policies/hub\n"
        "exemptNamespaces: [kube-system]\n"
    )
    server, base = serve(database_url, path)
    hub = {"rules": {"artifacts": {"allowPatterns": ["**"], "denyPatterns": ["docker.io/**"]}}}
    for policy_id, body in (("prod", {"rules": {}}), ("hub", hub)):
        r = requests.post(f"{base}/v1/projects/{gate_project}/policies", params={"policyId": policy_id}, json=body)
        assert r.status_code == 200, r.text
    yield base
    server.shutdown()


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "prod"},
    "spec": {"containers": [{"name": "app", "image": GOOD}]},
}


def review(obj, kind=None, namespace="prod", operation="CREATE", **request):
    kind = kind or obj["kind"]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": kind},
            "namespace": namespace,
            "operation": operation,
            "object": obj,
            **request,
        },
    }


def post(base, body):
    r = requests.post(f"{base}/v1/admission:review", json=body)
    assert r.status_code == 200, r.text
    check_response(r)
    answer = r.json()
    assert answer["apiVersion"] == body["apiVersion"] and answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == body["request"]["uid"]
    return answer["response"]


def with_images(obj, path, images):
    obj = copy.deepcopy(obj)
    spec = obj
    for key in path:
        spec = spec.setdefault(key, {})
    spec["containers"] = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return obj


def test_a_pod_by_digest_is_allowed(webhook):
    answer = post(webhook, review(POD))
    assert answer["allowed"] is True, answer


@pytest.mark.parametrize(
    "image",
    [f"{GOOD}@{GOOD.rpartition('@')[2]}", f" {GOOD}", GOOD.replace("@", ":x@y@")],
    ids=["two digests", "a space", "an @ in a tag"],
)
def test_an_image_no_runtime_pulls_is_denied_though_it_ends_in_a_good_digest(webhook, image):
    """Its findings were looked up under a spelling nothing is stored under, so nothing was found and it passed."""
    answer = post(webhook, review(with_images(POD, ["spec"], [image])))
    assert answer["allowed"] is False and "an image reference holds" in answer["status"]["message"], answer


def test_a_tag_is_denied_with_a_403_and_the_reason(webhook, gate_project):
    answer = post(webhook, review(with_images(POD, ["spec"], [GOOD, TAGGED])))
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 403 and answer["status"]["reason"] == "Forbidden"
    assert TAGGED in answer["status"]["message"] and "digest" in answer["status"]["message"]
    decisions = requests.get(
        f"{webhook}/v1/projects/{gate_project}/decisions",
        params={"filter": f'resourceUri="{resource_uri(TAGGED)}"'},
    ).json()["decisions"]
    assert decisions and decisions[-1]["decision"] == "DENY"  # the admission decision is on record


@pytest.mark.parametrize(
    "kind, path",
    [
        ("Deployment", ["spec", "template", "spec"]),
        ("StatefulSet", ["spec", "template", "spec"]),
        ("DaemonSet", ["spec", "template", "spec"]),
        ("ReplicaSet", ["spec", "template", "spec"]),
        ("Job", ["spec", "template", "spec"]),
        ("CronJob", ["spec", "jobTemplate", "spec", "template", "spec"]),
    ],
)
def test_pod_templates_of_every_workload_are_judged(webhook, kind, path):
    obj = with_images({"kind": kind, "metadata": {"name": "w", "namespace": "prod"}}, path, [TAGGED])
    assert post(webhook, review(obj))["allowed"] is False
    obj = with_images({"kind": kind, "metadata": {"name": "w", "namespace": "prod"}}, path, [GOOD])
    assert post(webhook, review(obj))["allowed"] is True


@pytest.mark.parametrize("containers", ["initContainers", "ephemeralContainers"])
def test_init_and_ephemeral_containers_count(webhook, containers):
    pod = copy.deepcopy(POD)
    pod["spec"][containers] = [{"name": "x", "image": TAGGED}]
    answer = post(webhook, review(pod, operation="UPDATE", subResource="ephemeralcontainers"))
    assert answer["allowed"] is False and TAGGED in answer["status"]["message"]


def with_volume(obj, path, reference, name="v"):
    """The object with an image volume added to the pod spec at `path`."""
    obj = copy.deepcopy(obj)
    spec = obj
    for key in path:
        spec = spec.setdefault(key, {})
    spec.setdefault("volumes", []).append({"name": name, "image": {"reference": reference, "pullPolicy": "Always"}})
    return obj


@pytest.mark.parametrize(
    "kind, path",
    [
        ("Pod", ["spec"]),
        ("Deployment", ["spec", "template", "spec"]),
        ("CronJob", ["spec", "jobTemplate", "spec", "template", "spec"]),
    ],
)
def test_an_image_volume_is_judged_as_a_container_image(webhook, kind, path):
    """The kubelet pulls an image volume and mounts its content, which an approved container may run."""
    obj = with_images({"kind": kind, "metadata": {"name": "w", "namespace": "prod"}}, path, [GOOD])
    obj = with_volume(obj, path, TAGGED)
    obj = with_volume(obj, path, GOOD, name="same-as-the-container")
    answer = post(webhook, review(obj))
    assert answer["allowed"] is False and TAGGED in answer["status"]["message"], answer
    good = with_volume(with_images({"kind": kind, "metadata": {"name": "w"}}, path, [GOOD]), path, GOOD)
    assert post(webhook, review(good))["allowed"] is True


def test_an_update_is_judged_on_the_image_volumes_it_adds(webhook):
    path = ["spec", "template", "spec"]
    before = with_volume(with_images({"kind": "Deployment", "metadata": {"name": "w"}}, path, [GOOD]), path, TAGGED)
    scaled = copy.deepcopy(before)
    scaled["spec"]["replicas"] = 0
    assert post(webhook, review(scaled, operation="UPDATE", oldObject=before))["allowed"] is True
    added = with_volume(scaled, path, "gcr.io/acme/tools:2", name="tools")
    answer = post(webhook, review(added, operation="UPDATE", oldObject=before))
    assert answer["allowed"] is False and "gcr.io/acme/tools:2" in answer["status"]["message"], answer
    assert TAGGED not in answer["status"]["message"]
    # An image a container ran before is not new as a volume, nor a volume's as a container's.
    moved = with_images(with_volume(scaled, path, GOOD, name="tools"), path, [TAGGED])
    assert post(webhook, review(moved, operation="UPDATE", oldObject=before))["allowed"] is True


def test_an_update_is_judged_on_the_images_it_adds(webhook):
    """The Deployment controller emptying a rollout's old ReplicaSet, a Pod's last finalizer removed: the
    images the object ran before were judged when they came, and refusing them again stalled rollouts
    and deletions for an image that had since gained a finding."""
    path = ["spec", "template", "spec"]
    before = with_images({"kind": "ReplicaSet", "metadata": {"name": "w", "namespace": "prod"}}, path, [TAGGED])
    scaled_down = copy.deepcopy(before)
    scaled_down["spec"]["replicas"] = 0
    answer = post(webhook, review(scaled_down, operation="UPDATE", oldObject=before))
    assert answer["allowed"] is True and "runs no image it did not run before" in answer["status"]["message"]
    respelled = with_images(scaled_down, path, ["GCR.IO/acme/app:1.0"])  # the same image, as a runtime pulls it
    assert post(webhook, review(respelled, operation="UPDATE", oldObject=before))["allowed"] is True

    added = with_images(scaled_down, path, [TAGGED, "gcr.io/acme/sidecar:2"])
    answer = post(webhook, review(added, operation="UPDATE", oldObject=before))
    assert answer["allowed"] is False, answer
    assert "gcr.io/acme/sidecar:2" in answer["status"]["message"] and TAGGED not in answer["status"]["message"]

    # Nothing to compare with, or nothing readable: every image is judged.
    for old in ({}, None, "x", with_images(before, path, [None])):
        answer = post(webhook, review(scaled_down, operation="UPDATE", oldObject=old))
        assert answer["allowed"] is False and TAGGED in answer["status"]["message"], old
    debugged = copy.deepcopy(POD)
    debugged["spec"]["ephemeralContainers"] = [{"name": "debug", "image": TAGGED}]
    answer = post(webhook, review(debugged, operation="UPDATE", subResource="ephemeralcontainers", oldObject=POD))
    assert answer["allowed"] is False and TAGGED in answer["status"]["message"]


def test_breakglass_annotation_admits_and_warns(webhook, gate_project):
    pod = with_images(POD, ["spec"], [TAGGED])
    pod["metadata"]["annotations"] = {"grafeas-py.dev/breakglass": "INC-7: hotfix"}
    answer = post(webhook, review(pod))
    assert answer["allowed"] is True
    assert any("breakglass" in w for w in answer["warnings"])
    # It did not pass the policy, and the message must not say it did.
    message = (
        f"Pod prod/web: admitted by breakglass (INC-7: hotfix): {TAGGED} failed projects/{gate_project}/policies/prod"
    )
    assert answer["status"]["message"] == message, answer
    passing = copy.deepcopy(pod)
    passing["spec"]["containers"] = [{"name": "app", "image": GOOD}]
    message = post(webhook, review(passing))["status"]["message"]
    assert message == f"Pod prod/web: every image passed policy projects/{gate_project}/policies/prod", message
    # Every test of the module records in this project: read them all, not a first page.
    decisions = f"{webhook}/v1/projects/{gate_project}/decisions"
    recorded = requests.get(decisions, params={"pageSize": 1000}).json()["decisions"]
    assert any(d.get("breakglass") == {"justification": "INC-7: hotfix"} for d in recorded)


def test_a_warning_keeps_its_reason_and_stays_within_256_characters(webhook):
    """Warnings were cut at 120 characters after a 90-character image: "admitted by breakglass (IN…"."""
    image = f"docker.io/library/nginx@sha256:{DIGEST}"  # namespace hub denies docker.io/**
    justification = "INC-7: CVE-2024-0001 is not reachable here; hotfix approved by the on-call lead " * 2
    pod = with_images(POD, ["spec"], [image])
    pod["metadata"]["annotations"] = {"grafeas-py.dev/breakglass": justification}
    answer = post(webhook, review(pod, namespace="hub"))
    assert answer["allowed"] is True, answer
    shown = f"docker.io/library/nginx@sha256:{DIGEST[:12]}…"
    assert answer["warnings"] == [f"{shown}: admitted by breakglass ({justification})"]
    assert image in answer["status"]["message"]  # the message names the image in full
    pod["metadata"]["annotations"] = {"grafeas-py.dev/breakglass": justification * 2}
    [warning] = post(webhook, review(pod, namespace="hub"))["warnings"]
    assert len(warning) == 256 and warning.startswith(f"{shown}: admitted by breakglass (INC-7: CVE-2024-0001")
    assert warning.endswith("…")


def test_exempt_namespaces_deletes_and_connects_are_allowed(webhook):
    assert post(webhook, review(with_images(POD, ["spec"], [TAGGED]), namespace="kube-system"))["allowed"] is True
    assert post(webhook, review(POD, operation="DELETE"))["allowed"] is True
    assert post(webhook, review({}, kind="PodExecOptions", operation="CONNECT"))["allowed"] is True


def _request(body, **changes):
    """The review with its request changed: a key set to None is removed."""
    request = {**body["request"], **changes}
    return {**body, "request": {k: v for k, v in request.items() if v is not None}}


def _image_volume(image):
    """A request's change giving the Pod a good container and a volume whose `image` is `image`."""
    return {"object": {"spec": {"containers": [{"image": GOOD}], "volumes": [{"name": "v", "image": image}]}}}


NO_REFERENCE = ({}, {"reference": ""}, {"reference": 7}, {"reference": None}, "gcr.io/acme/app:1.0")


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"kind": {"kind": "ConfigMap"}, "object": {"data": {}}}, "does not know which images a ConfigMap runs"),
        ({"kind": {"kind": "pod"}}, "does not know which images a pod runs"),
        ({"kind": None}, "does not know which images a request without a kind runs"),
        ({"operation": None}, "unknown operation ''"),
        ({"operation": "create"}, "unknown operation 'create'"),
        ({"object": None}, "carries no Pod object"),
        ({"object": {"spec": []}}, "names no container image"),
        ({"object": {"spec": {"containers": {"image": "x"}, "initContainers": [{"image": "y"}]}}}, "is not a list"),
        ({"object": {"spec": {"containers": [{"name": "no-image"}]}}}, "containers entry has no image"),
        ({"object": {"spec": {"containers": [{"image": "x"}], "volumes": {"name": "v"}}}}, "volumes is not a list"),
        ({"object": {"spec": {"containers": [{"image": "x"}], "volumes": ["v"]}}}, "volumes entry is not an object"),
        *[(_image_volume(image), "Pod image volume 'v' has no image reference") for image in NO_REFERENCE],
        # The object cannot choose its namespace: only the API server's word counts.
        ({"namespace": None, "object": {"metadata": {"namespace": "kube-system"}, "spec": {}}}, "names no namespace"),
    ],
    ids=lambda v: None,
)
def test_a_review_that_cannot_be_judged_is_denied_not_admitted(webhook, changes, reason):
    answer = post(webhook, _request(review(with_images(POD, ["spec"], [TAGGED])), **changes))
    assert answer["allowed"] is False and answer["status"]["code"] == 403, answer
    assert reason in answer["status"]["message"], answer["status"]["message"]


@pytest.mark.parametrize("value", ["false", "False", "no", "off", "0", " false "])
def test_breakglass_false_is_no_breakglass(webhook, value):
    """Any other value is a justification: "no" admitted the pod, breaking the glass."""
    pod = with_images(POD, ["spec"], [TAGGED])
    pod = {**pod, "metadata": {**pod.get("metadata", {}), "annotations": {"image-policy.k8s.io/break-glass": value}}}
    answer = post(webhook, review(pod))
    assert answer["allowed"] is False and "breakglass" not in str(answer.get("warnings", []))


def test_docker_hub_aliases_are_judged_as_docker_hub(webhook, gate_project):
    # index.docker.io/library/nginx is the image docker.io/library/nginx; a deny pattern on one holds for both,
    # and for the registry written with its default port.
    hub_names = ("index.docker.io/library", "registry-1.docker.io", "docker.io:443/library", "registry-1.docker.io:443")
    for image in (f"{name}/nginx@sha256:{DIGEST}" for name in hub_names):
        answer = post(webhook, review(with_images(POD, ["spec"], [image]), namespace="hub"))
        assert answer["allowed"] is False and "docker.io/**" in answer["status"]["message"], answer


def test_fails_closed(webhook):
    unmapped = post(webhook, review(POD, namespace="elsewhere"))
    assert unmapped["allowed"] is False and "no gate policy" in unmapped["status"]["message"]
    missing = post(webhook, review(POD, namespace="dev"))
    assert missing["allowed"] is False and "policies/missing" in missing["status"]["message"]


def test_dry_run_records_nothing(webhook, gate_project):
    image = f"gcr.io/acme/dry@sha256:{DIGEST}"
    post(webhook, review(with_images(POD, ["spec"], [image]), dryRun=True))
    path = f"{webhook}/v1/projects/{gate_project}/decisions"
    assert requests.get(path, params={"filter": f'resourceUri="{resource_uri(image)}"'}).json() == {}


def test_a_deadline_overrun_denies(database_url, tmp_path, gate_project):
    path = tmp_path / "slow.yaml"
    path.write_text(f"namespaces:\n  prod: projects/{gate_project}/policies/prod\ndeadlineSeconds: 0.000001\n")
    server, base = serve(database_url, path)
    try:
        answer = post(base, review(POD))
        assert answer["allowed"] is False and "within" in answer["status"]["message"]
    finally:
        server.shutdown()


def test_a_judging_held_up_by_the_database_is_denied_at_the_deadline(database_url, tmp_path, gate_project):
    """Recording the decision waits for a lock another session holds: SQLite's write lock (for up to its
    busy timeout of 30 s), PostgreSQL's on the decisions table (up to the statement timeout, 5 s)."""
    path = tmp_path / "deadline.yaml"
    path.write_text(f"namespaces:\n  prod: projects/{gate_project}/policies/prod\ndeadlineSeconds: 1\n")
    server, base = serve(database_url, path)
    requests.post(f"{base}/v1/projects/{gate_project}/policies", params={"policyId": "prod"}, json={"rules": {}})
    assert post(base, review(POD))["allowed"] is True
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as locker:
            if engine.dialect.name == "sqlite":
                locker.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                locker.begin()
                locker.execute(text("LOCK TABLE decisions IN EXCLUSIVE MODE"))
            started = time.monotonic()
            try:  # without a bound, the answer waited for the lock, which waits for the answer
                answer = requests.post(f"{base}/v1/admission:review", json=review(POD), timeout=30).json()["response"]
            finally:
                took = time.monotonic() - started
                locker.rollback()
        assert answer["allowed"] is False and "within 1s" in answer["status"]["message"], answer
        assert took < 3, took  # the deadline, give or take a thread switch and a round trip
    finally:
        engine.dispose()
        server.shutdown()


def test_a_statement_cut_off_at_the_database_timeout_denies_saying_so(database_url, tmp_path):
    """The denial named an unreachable database. On PostgreSQL recording the decision waits on a lock
    past statement_timeout; on SQLite reading the most occurrences the gate judges on (some 8 VM instructions
    each) runs past a read bound of 1 ms, which is checked every 100,000 instructions."""
    project = f"k8s-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "timeout.yaml"
    path.write_text(f"namespaces:\n  prod: projects/{project}/policies/prod\ndeadlineSeconds: 10\n")
    sqlite = database_url.startswith("sqlite")
    timeout = 0.001 if sqlite else 1
    server, base = serve(database_url, path, db_timeout=timeout)
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        r = requests.post(f"{base}/v1/projects/{project}/policies", params={"policyId": "prod"}, json={"rules": {}})
        assert r.status_code == 200, r.text
        if sqlite:  # writes are not bounded on SQLite, nor are reads shorter than 100,000 instructions
            r = requests.post(f"{base}/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
            assert r.status_code == 200, r.text
            item = {"resourceUri": resource_uri(GOOD), "noteName": f"projects/{project}/notes/n"}
            for _ in range(MAX_OCCURRENCES // 1000):
                batch = {"occurrences": [{**item, **OCCURRENCE_DETAILS["BUILD"]}] * 1000}
                r = requests.post(f"{base}/v1/projects/{project}/occurrences:batchCreate", json=batch)
                assert r.status_code == 200, r.text
            answer = post(base, review(POD))
        else:
            with engine.connect() as locker:
                locker.begin()
                locker.execute(text("LOCK TABLE decisions IN EXCLUSIVE MODE"))
                try:
                    answer = post(base, review(POD))
                finally:
                    locker.rollback()
        assert answer["allowed"] is False, answer
        message = f"grafeas-py's database lookup timed out (GRAFEAS_DB_TIMEOUT, {timeout:g} s); denied"
        assert answer["status"]["message"] == message, answer
    finally:
        engine.dispose()
        server.shutdown()


def test_without_configuration_every_review_is_denied(database_url):
    app = create_app(Settings(database_url=database_url, audit_seal_seconds=0))
    answer = app.test_client().post("/v1/admission:review", json=review(POD)).get_json()["response"]
    assert answer["allowed"] is False and "GRAFEAS_ADMISSION_CONFIG" in answer["status"]["message"]


def test_namespace_no_is_judged_by_its_own_policy(database_url, tmp_path, gate_project):
    """YAML reads an unquoted `no` as False: the server refuses such a config rather than judge namespace
    `no` by the `*` policy, and judges it by its own policy once quoted."""
    path = tmp_path / "admission.yaml"
    policies = f"projects/{gate_project}/policies"
    path.write_text(f"namespaces:\n  no: {policies}/strict\n  '*': {policies}/lax\n")
    with pytest.raises(ValueError, match="GRAFEAS_ADMISSION_CONFIG=.*quote"):
        serve(database_url, path)
    path.write_text(f"namespaces:\n  'no': {policies}/strict\n  '*': {policies}/lax\n")
    server, base = serve(database_url, path)
    try:
        for policy_id, rules in (("strict", {"artifacts": {"denyPatterns": ["**"]}}), ("lax", {})):
            r = requests.post(f"{base}/v1/{policies}", params={"policyId": policy_id}, json={"rules": rules})
            assert r.status_code == 200, r.text
        assert post(base, review(POD, namespace="other"))["allowed"] is True
        answer = post(base, review(POD, namespace="no"))
        assert answer["allowed"] is False and "deny pattern '**'" in answer["status"]["message"], answer
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "body, message",
    [
        ({"kind": "Pod"}, "expected an AdmissionReview"),
        ({"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview", "request": {}}, "apiVersion must be"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}, "uid is required"),
        ({**review(POD), "request": {**review(POD)["request"], "uid": ""}}, "uid is required"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_a_malformed_review_is_400(webhook, body, message):
    r = requests.post(f"{webhook}/v1/admission:review", json=body)
    assert r.status_code == 400 and message in r.json()["error"]["message"], r.text
    check_response(r)


def test_a_v1beta1_review_is_judged_and_answered_in_v1beta1(webhook):
    """A webhook registered Kritis-style with admissionReviewVersions [v1beta1] got a 400, and its
    failurePolicy then decided: under Ignore, the Pod was admitted unjudged."""
    for images, allowed in (([GOOD], True), ([TAGGED], False)):
        body = {**review(with_images(POD, ["spec"], images)), "apiVersion": "admission.k8s.io/v1beta1"}
        assert post(webhook, body)["allowed"] is allowed  # post checks the answer is in v1beta1


@pytest.mark.parametrize(
    "changes, says",
    [
        # found by schemathesis: was a 500, then a 400, which failurePolicy Ignore admits
        ({"kind": {"kind": {}}}, "AdmissionReview.request.kind.kind is not a kind's name"),
        ({"object": ["not", "a", "pod"]}, "AdmissionReview.request.object is not an object"),
        ({"object": "pod", "operation": "DELETE"}, "AdmissionReview.request.object is not an object"),
        ({"kind": {"kind": 7}, "namespace": "kube-system"}, "AdmissionReview.request.kind.kind is not a kind's name"),
    ],
    ids=lambda v: None,
)
def test_a_review_with_a_uid_but_a_malformed_kind_or_object_is_denied(webhook, changes, says):
    """With a uid to echo, the webhook answers itself, and denies, whatever the operation or namespace."""
    answer = post(webhook, _request(review(POD), **changes))
    assert answer["allowed"] is False and answer["status"]["code"] == 403, answer
    assert says in answer["status"]["message"], answer["status"]["message"]


@pytest.mark.parametrize(
    "image, uri",
    [
        ("nginx", "https://docker.io/library/nginx"),
        ("nginx:1.25", "https://docker.io/library/nginx:1.25"),
        ("acme/app@sha256:" + "a" * 64, "https://docker.io/acme/app@sha256:" + "a" * 64),
        ("gcr.io/p/app:1.0@sha256:" + "b" * 64, "https://gcr.io/p/app@sha256:" + "b" * 64),
        ("localhost:5000/app:dev", "https://localhost:5000/app:dev"),
        ("gcr.io:443/p/app@sha256:" + "b" * 64, "https://gcr.io/p/app@sha256:" + "b" * 64),
        ("registry.example.com:5000/team/app", "https://registry.example.com:5000/team/app"),
        # Docker reads a first segment in capitals as a host (a repository path is lower case).
        ("LOCALHOST/app@sha256:" + "c" * 64, "https://localhost/app@sha256:" + "c" * 64),
        ("Registry/team/app:1", "https://registry/team/app:1"),
    ],
)
def test_image_references_become_resource_uris(image, uri):
    assert resource_uri(image) == uri


def test_the_deploy_examples_hold_together():
    """deploy/kubernetes: the config parses, and the webhook sends every kind the gate reads images from."""
    root = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
    config = load_config((root / "admission-config.yaml").read_text())
    assert config.policy_for("prod") == ("acme", "prod") and config.policy_for("other") == ("acme", "default")
    assert "kube-system" in config.exempt_namespaces and config.deadline_seconds < 5
    hook = yaml.safe_load((root / "validating-webhook.yaml").read_text())["webhooks"][0]
    assert hook["clientConfig"]["service"]["path"] == "/v1/admission:review"
    assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "NoneOnDryRun"
    resources = {r for rule in hook["rules"] for r in rule["resources"]}
    expected = {"pods", "pods/ephemeralcontainers", "replicationcontrollers", "deployments", "statefulsets"}
    assert expected | {"daemonsets", "replicasets", "jobs", "cronjobs"} <= resources
