"""Reading an AdmissionReview never fails but with a 400: a crash would be a 500, which a webhook
with `failurePolicy: Ignore` turns into an admission."""

from hypothesis import given, settings
from hypothesis import strategies as st

from grafeas_py.errors import InvalidArgument
from grafeas_py.gate.admission import API_VERSIONS, BREAKGLASS_ANNOTATIONS, Review, images_of, parse_review, short_image

KINDS = ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "EphemeralContainers"]
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


def maybe(strategy):
    """The value, or anything else at all, in the place a review has it."""
    return strategy | anything


container = st.fixed_dictionaries(
    {}, optional={"name": maybe(st.text(max_size=5)), "image": maybe(st.text(max_size=20))}
)
containers = maybe(st.lists(maybe(container), max_size=3))
volume = st.fixed_dictionaries(
    {},
    optional={
        "name": maybe(st.text(max_size=5)),
        "image": maybe(st.fixed_dictionaries({}, optional={"reference": maybe(st.text(max_size=20))})),
    },
)
pod_spec = st.fixed_dictionaries(
    {},
    optional={
        "containers": containers,
        "initContainers": containers,
        "ephemeralContainers": containers,
        "volumes": maybe(st.lists(maybe(volume), max_size=3)),
    },
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "name": anything,
        "namespace": anything,
        "annotations": maybe(
            st.dictionaries(st.sampled_from(BREAKGLASS_ANNOTATIONS) | st.text(), anything, max_size=2)
        ),
    },
)
template = st.fixed_dictionaries({}, optional={"metadata": maybe(metadata), "spec": maybe(pod_spec)})
obj = st.fixed_dictionaries(
    {},
    optional={
        "metadata": maybe(metadata),
        "spec": maybe(
            pod_spec
            | st.fixed_dictionaries({}, optional={"template": maybe(template)})
            | st.fixed_dictionaries(
                {},
                optional={
                    "jobTemplate": maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={"spec": maybe(st.fixed_dictionaries({}, optional={"template": maybe(template)}))},
                        )
                    )
                },
            )
        ),
        "containers": containers,
    },
)
request = st.fixed_dictionaries(
    {"uid": maybe(st.text(min_size=1, max_size=8))},
    optional={
        "kind": maybe(st.fixed_dictionaries({"kind": maybe(st.sampled_from(KINDS))})),
        "namespace": anything,
        "name": anything,
        "operation": maybe(st.sampled_from(["CREATE", "UPDATE", "DELETE"])),
        "dryRun": anything,
        "object": maybe(obj),
    },
)
review = st.fixed_dictionaries(
    {
        "apiVersion": maybe(st.sampled_from(API_VERSIONS)),
        "kind": maybe(st.just("AdmissionReview")),
        "request": maybe(request),
    }
)


@settings(max_examples=600, deadline=None)
@given(maybe(review))
def test_any_body_is_read_or_refused_with_a_400(body):
    try:
        parsed = parse_review(body)
    except InvalidArgument:
        return
    assert isinstance(parsed, Review)
    assert isinstance(parsed.uid, str) and parsed.uid
    assert all(isinstance(image, str) and image for image in parsed.images)
    assert parsed.breakglass is None or isinstance(parsed.breakglass, str)
    assert parsed.api_version == body["apiVersion"] and isinstance(parsed.kind, str)


def test_images_are_the_containers_then_the_image_volumes_without_repeats():
    spec = {
        "initContainers": [{"image": "init"}],
        "containers": [{"image": "app"}, {"image": "tools"}],
        "volumes": [
            {"name": "config", "configMap": {"name": "c"}},
            {"name": "t", "image": {"reference": "tools"}},
            {"name": "m", "image": {"reference": "models:1", "pullPolicy": "IfNotPresent"}},
            {"name": "m2", "image": {"reference": "models:1"}},
        ],
    }
    assert images_of("Pod", {"spec": spec}) == ["init", "app", "tools", "models:1"]
    assert images_of("Job", {"spec": {"template": {"spec": spec}}}) == ["init", "app", "tools", "models:1"]


def test_a_warning_shows_a_digest_by_its_first_12_hex_digits():
    digest = "0123456789ab" + "c" * 52
    assert short_image(f"gcr.io/a/app@sha256:{digest}") == "gcr.io/a/app@sha256:0123456789ab…"
    assert short_image(f"gcr.io/a/app:1.0@sha256:{digest}") == "gcr.io/a/app:1.0@sha256:0123456789ab…"
    for image in ("gcr.io/a/app:1.0", "localhost:5000/app", "app@sha256:0123", "odd@"):
        assert short_image(image) == image
