"""Filters on the list RPCs: one table of (filter, expected items), run on SQLite and PostgreSQL."""

import pytest

from grafeas_py.filtering import MAX_DEPTH, MAX_TERMS, parse
from grafeas_py.storage import PageRequest
from grafeas_py.storage.sql import occurrences_query
from tests.factories import NOTE_BODIES, OCCURRENCE_DETAILS, occurrence_body

A = "https://gcr.io/acme/app@sha256:" + "a" * 64
B = "https://gcr.io/acme/api@sha256:" + "b" * 64
C = "https://quay.io/other/db@sha256:" + "c" * 64
TRICKY = "https://gcr.io/acme/100%_done@sha256:" + "d" * 64

# Details some occurrences carry beyond the factory's, for member access into numbers, maps and times.
VULNERABILITY = OCCURRENCE_DETAILS["VULNERABILITY"]["vulnerability"]
EXTRA = {
    "vuln-a": {"vulnerability": {**VULNERABILITY, "relatedUrls": [{"url": "https://example.com/a"}]}},
    "vuln-b": {"vulnerability": {**VULNERABILITY, "relatedUrls": [{"url": "https://example.com/b", "label": "NVD"}]}},
    "build-a": {
        "build": {
            "provenance": {
                "id": "build-1",
                "builderVersion": "gcb-2024.1",
                # keys that are not names, some of them syntax in PostgreSQL's array literals
                "buildOptions": {
                    "machine": "e2-large",
                    "disk-size.gb": "100",
                    "a,b": "1",
                    "{x}": "2",
                    "": "3",
                    "NULL": "4",
                    " lead space": "5",
                },
            },
            "inTotoSlsaProvenanceV1": {"subject": [{"name": "app", "digest": {"sha256": "a" * 64}}]},
        }
    },
    "disc-c": {"discovery": {"analysisStatus": "FINISHED_SUCCESS", "lastScanTime": "2024-05-01T12:00:00.250Z"}},
}

# (label, kind, note id, resource): the occurrences each test project holds
OCCURRENCES = [
    ("vuln-a", "VULNERABILITY", "CVE-1", A),
    ("vuln-b", "VULNERABILITY", "CVE-2", B),
    ("build-a", "BUILD", "builder", A),
    ("disc-c", "DISCOVERY", "scanner", C),
    ("pkg-tricky", "PACKAGE", "openssl", TRICKY),
]


@pytest.fixture
def seeded(http, project):
    """A provider project with the notes, and `project` with one occurrence per row above."""
    provider = f"{project}-provider"
    notes = {note_id: NOTE_BODIES[kind] for _, kind, note_id, _ in OCCURRENCES}
    assert http.post(f"/v1/projects/{provider}/notes:batchCreate", json={"notes": notes}).status_code == 200
    names = {}
    for label, kind, note_id, resource in OCCURRENCES:
        body = occurrence_body(kind, f"projects/{provider}/notes/{note_id}", resource)
        body.update(EXTRA.get(label, {}))
        r = http.post(f"/v1/projects/{project}/occurrences", json=body)
        assert r.status_code == 200, r.text
        names[r.json()["name"]] = label
    return provider, names


def listed(http, path, filter_):
    r = http.get(path, params={"filter": filter_, "pageSize": 1000})
    assert r.status_code == 200, r.text
    return r.json().get("occurrences", r.json().get("notes", []))


CASES = [
    ('kind="VULNERABILITY"', {"vuln-a", "vuln-b"}),
    ("kind=VULNERABILITY", {"vuln-a", "vuln-b"}),
    ("kind = 1", {"vuln-a", "vuln-b"}),  # by number, as in bodies
    ('kind = "1"', {"vuln-a", "vuln-b"}),  # quoted, as member enums take numbers
    ("kind = 'BUILD'", {"build-a"}),
    ('kind="PACKAGE_VULNERABILITY"', {"vuln-a", "vuln-b"}),  # Kritis's v1beta1 name
    (f'resourceUrl="{A}"', {"vuln-a", "build-a"}),
    (f'resource_uri="{A}"', {"vuln-a", "build-a"}),
    (f'kind="VULNERABILITY" AND resourceUrl="{A}"', {"vuln-a"}),
    (f'(kind="VULNERABILITY" AND resourceUrl="{A}")', {"vuln-a"}),
    (f'kind="VULNERABILITY" resourceUrl="{A}"', {"vuln-a"}),  # a sequence is an implicit AND
    # a bare value before a group: no call, which has its ( right after the name (was a syntax error)
    (f'kind = VULNERABILITY (resourceUrl = "{A}" OR resourceUrl = "{C}")', {"vuln-a"}),
    ('kind="BUILD" OR kind="DISCOVERY"', {"build-a", "disc-c"}),
    (f'resourceUrl="{A}" kind="BUILD" OR kind="DISCOVERY"', {"build-a"}),  # OR binds tighter
    ('NOT kind="VULNERABILITY"', {"build-a", "disc-c", "pkg-tricky"}),
    ('-kind="VULNERABILITY"', {"build-a", "disc-c", "pkg-tricky"}),
    ('NOT(kind="VULNERABILITY")', {"build-a", "disc-c", "pkg-tricky"}),  # a keyword ends where a word does
    ('kind="BUILD" OR(kind="DISCOVERY")', {"build-a", "disc-c"}),
    ('kind!="VULNERABILITY"', {"build-a", "disc-c", "pkg-tricky"}),
    # kinds order by number, as protobuf declares them (VULNERABILITY 1, BUILD 2, PACKAGE 4, DISCOVERY 6)
    ('kind < "PACKAGE"', {"vuln-a", "vuln-b", "build-a"}),
    ("kind >= DISCOVERY", {"disc-c"}),
    ("kind <= PACKAGE_VULNERABILITY", {"vuln-a", "vuln-b"}),
    ('has_prefix(resourceUrl, "https://gcr.io/acme/")', {"vuln-a", "vuln-b", "build-a", "pkg-tricky"}),
    ('has_prefix(resourceUrl, "https://gcr.io/acme/100%_")', {"pkg-tricky"}),  # % and _ are literal
    ('has_prefix(resourceUrl, "https://gcr.io/acme/1%")', set()),
    # a range of resource URIs in code point order, for their index
    ('has_prefix(resourceUrl, "")', {"vuln-a", "vuln-b", "build-a", "disc-c", "pkg-tricky"}),
    ('has_prefix(resourceUrl, "https://gcr.io/acme/a")', {"vuln-a", "vuln-b", "build-a"}),
    (f'has_prefix(resourceUrl, "{A}")', {"vuln-a", "build-a"}),
    ('NOT has_prefix(resourceUrl, "https://gcr.io/")', {"disc-c"}),
    ('has_prefix(resourceUrl, "https://gcr.io/acme/app\U0010ffff")', set()),  # the last code point
    ('has_prefix(resourceUrl, "https://gcr.io/acme/\ud7ff")', set()),  # surrogates follow it
    ('has_suffix(resourceUrl, "c" )', {"disc-c"}),
    ('noteId="CVE-1"', {"vuln-a"}),
    ('dependencyPackageName="openssl"', {"pkg-tricky"}),  # Container Analysis's name for package.name
    ('noteId="CVE-1" OR noteId="CVE-2"', {"vuln-a", "vuln-b"}),
    ("kind:*", {"vuln-a", "vuln-b", "build-a", "disc-c", "pkg-tricky"}),
    ('createTime > "2000-01-01T00:00:00Z"', {"vuln-a", "vuln-b", "build-a", "disc-c", "pkg-tricky"}),
    ('createTime < "2000-01-01T00:00:00+02:00"', set()),
    ('updateTime >= "2000-01-01T00:00:00Z" AND kind="BUILD"', {"build-a"}),
    ('resourceUrl="nothing"', set()),
    # member access into the document, with proto3 defaults for what it leaves out
    ('vulnerability.effectiveSeverity="HIGH"', {"vuln-a", "vuln-b"}),
    ("vulnerability.effective_severity=HIGH", {"vuln-a", "vuln-b"}),
    ("vulnerability.effectiveSeverity=4", {"vuln-a", "vuln-b"}),
    ('vulnerability.effectiveSeverity="SEVERITY_UNSPECIFIED" AND kind="BUILD"', {"build-a"}),
    # enums order by number, as declared (LOW < MEDIUM < HIGH < CRITICAL), not by name
    ('vulnerability.effectiveSeverity > "MEDIUM"', {"vuln-a", "vuln-b"}),
    ("vulnerability.effectiveSeverity >= HIGH", {"vuln-a", "vuln-b"}),
    ("vulnerability.effectiveSeverity > CRITICAL", set()),
    ("vulnerability.effectiveSeverity < 4", {"build-a", "disc-c", "pkg-tricky"}),
    ("NOT vulnerability.effectiveSeverity > LOW", {"build-a", "disc-c", "pkg-tricky"}),
    ('build.provenance.id="build-1"', {"build-a"}),
    ('has_prefix(build.provenance.builderVersion, "gcb-")', {"build-a"}),
    ('discovery.analysisStatus="FINISHED_SUCCESS"', {"disc-c"}),
    ("vulnerability.packageIssue:*", {"vuln-a", "vuln-b"}),
    # through a repeated field, presence asks for the rest of the path in an element
    ("vulnerability.relatedUrls:*", {"vuln-a", "vuln-b"}),
    ("vulnerability.relatedUrls.label:*", {"vuln-b"}),
    ("vulnerability.packageIssue.affectedVersion:*", {"vuln-a", "vuln-b"}),
    ("vulnerability.packageIssue.affectedVersion.epoch:*", set()),
    ("NOT vulnerability.relatedUrls.label:*", {"vuln-a", "build-a", "disc-c", "pkg-tricky"}),
    ("build:*", {"build-a"}),
    ("image.distance = 0", {"vuln-a", "vuln-b", "build-a", "disc-c", "pkg-tricky"}),
    # through repeated fields: any element
    ('vulnerability.packageIssue.affectedPackage="xz-utils"', {"vuln-a", "vuln-b"}),
    ('vulnerability.packageIssue.affectedPackage:"xz-utils"', {"vuln-a", "vuln-b"}),
    ('vulnerability.packageIssue.affectedPackage="openssl"', set()),
    ('vulnerability.packageIssue.affectedPackage!="xz-utils"', {"build-a", "disc-c", "pkg-tricky"}),
    ('vulnerability.packageIssue.affectedVersion.kind="NORMAL"', {"vuln-a", "vuln-b"}),
    ('package.location.cpeUri="cpe:/o:debian:debian_linux:12"', {"pkg-tricky"}),
    ('vulnerability.packageIssue.fixedVersion.name > "5.6.0" AND resourceUrl="' + A + '"', {"vuln-a"}),
    ('has_prefix(vulnerability.packageIssue.affectedCpeUri, "cpe:/o:debian:")', {"vuln-a", "vuln-b"}),
    ('has_suffix(package.location.cpeUri, ":12")', {"pkg-tricky"}),
    ('has_suffix(package.location.cpeUri, "_linux%12")', set()),  # % and _ are literal here too
    # an element that leaves the field out has "" there, which "" begins and ends
    ('has_prefix(vulnerability.packageIssue.packageType, "")', {"vuln-a", "vuln-b"}),
    ('has_suffix(vulnerability.packageIssue.packageType, "")', {"vuln-a", "vuln-b"}),
    ('NOT has_prefix(vulnerability.packageIssue.packageType, "")', {"build-a", "disc-c", "pkg-tricky"}),
    ('has_prefix(resourceUrl, "HTTPS://")', set()),  # case matters, on SQLite as on PostgreSQL
    # numbers (PostgreSQL answers equality by containment, through the GIN index)
    ("vulnerability.cvssScore = 0", {"build-a", "disc-c", "pkg-tricky", "vuln-a", "vuln-b"}),
    ("vulnerability.effectiveSeverity = HIGH AND vulnerability.cvssScore < 1", {"vuln-a", "vuln-b"}),
    # maps, by key
    ('build.provenance.buildOptions.machine = "e2-large"', {"build-a"}),
    ('build.provenance.buildOptions.machine = "other"', set()),
    ("build.provenance.buildOptions.machine:*", {"build-a"}),
    # quoted segments, for keys that are not names
    ('build.provenance.buildOptions."disk-size.gb" = "100"', {"build-a"}),
    ("build.provenance.buildOptions.'disk-size.gb':*", {"build-a"}),
    ('has_prefix(build.provenance.buildOptions."disk-size.gb", "1")', {"build-a"}),
    ('build.provenance.buildOptions."disk-size" = "100"', set()),
    # keys PostgreSQL's `#>>` mangled or refused as an array literal ("a,b" read as two keys)
    ('build.provenance.buildOptions."a,b":*', {"build-a"}),
    ('build.provenance.buildOptions."a,b" = "1"', {"build-a"}),
    ('build.provenance.buildOptions."a,b" = ""', {"vuln-a", "vuln-b", "disc-c", "pkg-tricky"}),
    ('build.provenance.buildOptions."a,b" != "1"', {"vuln-a", "vuln-b", "disc-c", "pkg-tricky"}),
    ('build.provenance.buildOptions."{x}":*', {"build-a"}),
    ('build.provenance.buildOptions."{x}" > "1"', {"build-a"}),
    ('build.provenance.buildOptions."":*', {"build-a"}),
    ('build.provenance.buildOptions."" >= "3"', {"build-a"}),
    ('build.provenance.buildOptions."NULL":*', {"build-a"}),
    ('has_suffix(build.provenance.buildOptions." lead space", "5")', {"build-a"}),
    ('has_prefix(build.provenance.buildOptions."a,b", "1")', {"build-a"}),
    ('vulnerability."effectiveSeverity"="HIGH"', {"vuln-a", "vuln-b"}),
    ('build.inTotoSlsaProvenanceV1.subject.digest.sha256 = "' + "a" * 64 + '"', {"build-a"}),
    ('build.inTotoSlsaProvenanceV1.subject.digest.sha256 = "' + "b" * 64 + '"', set()),
    # times inside documents compare as times, to the microsecond, whatever the offset or precision
    ('discovery.lastScanTime > "2024-05-01T12:00:00Z"', {"disc-c"}),
    ('discovery.lastScanTime > "2024-05-01T12:00:00.250001Z"', set()),
    ('discovery.lastScanTime = "2024-05-01T14:00:00.25+02:00"', {"disc-c"}),
    ('discovery.lastScanTime <= "2024-05-01T12:00:00.250000000Z"', {"disc-c"}),
    ('discovery.lastScanTime < "2024-05-01T12:00:00.2Z"', set()),
    ('NOT discovery.lastScanTime > "2000-01-01T00:00:00Z"', {"build-a", "pkg-tricky", "vuln-a", "vuln-b"}),
    ('deployment.deployTime < "1999-01-01T00:00:00Z"', set()),
]


@pytest.mark.parametrize("filter_, expected", CASES, ids=[c[0] for c in CASES])
def test_filter_table(http, project, seeded, filter_, expected):
    _, names = seeded
    got = {names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", filter_)}
    assert got == expected


def test_note_project_and_name(http, project, seeded):
    provider, names = seeded
    got = {names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", f'noteProjectId="{provider}"')}
    assert len(got) == len(OCCURRENCES)
    note = f"projects/{provider}/notes/CVE-2"
    assert {names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", f'noteName="{note}"')} == {
        "vuln-b"
    }


def test_filter_on_notes_and_note_occurrences(http, project, seeded):
    provider, names = seeded
    notes = listed(http, f"/v1/projects/{provider}/notes", 'kind="VULNERABILITY"')
    assert {n["name"].rsplit("/", 1)[1] for n in notes} == {"CVE-1", "CVE-2"}
    occ = listed(http, f"/v1/projects/{provider}/notes/CVE-1/occurrences", 'kind="VULNERABILITY"')
    assert [names[o["name"]] for o in occ] == ["vuln-a"]
    assert listed(http, f"/v1/projects/{provider}/notes/CVE-1/occurrences", f'resourceUrl="{B}"') == []


def test_filtered_paging_keeps_the_filter(http, project, seeded):
    path = f"/v1/projects/{project}/occurrences"
    first = http.get(path, params={"filter": 'kind="VULNERABILITY"', "pageSize": 1}).json()
    second = http.get(
        path, params={"filter": 'kind="VULNERABILITY"', "pageSize": 1, "pageToken": first["nextPageToken"]}
    )
    assert second.status_code == 200
    assert "nextPageToken" not in second.json()
    other = http.get(path, params={"filter": 'kind="BUILD"', "pageToken": first["nextPageToken"]})
    assert other.status_code == 400
    assert "different list request" in other.json()["error"]["message"]


@pytest.mark.parametrize("value", ['"²"', '"٣"'])
def test_enum_numbers_in_filters_are_ascii_digits(http, project, value):
    r = http.get(f"/v1/projects/{project}/occurrences", params={"filter": f"vulnerability.effectiveSeverity={value}"})
    assert r.status_code == 400 and "is not a grafeas.v1.Severity" in r.json()["error"]["message"], r.text


def test_infinity_and_nan_compare_alike_on_both_databases(http, project):
    # SQLite cast "Infinity" to 0; PostgreSQL sorted NaN above every number.
    note = f"projects/{project}/notes/cve"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "cve"}, json=NOTE_BODIES["VULNERABILITY"]).ok
    names = {}
    scores = {"high": 9.8, "infinite": "Infinity", "negative": "-Infinity", "nan": "NaN", "unset": None}
    for label, score in scores.items():
        body = occurrence_body("VULNERABILITY", note)
        body["vulnerability"] = {**body["vulnerability"], "cvssScore": score}
        if label == "high":  # an element with an int32 set, for infinities through a repeated field
            body["vulnerability"]["packageIssue"][0]["affectedVersion"]["epoch"] = 2
        r = http.post(f"/v1/projects/{project}/occurrences", json=body)
        assert r.status_code == 200, r.text
        names[r.json()["name"]] = label

    def matching(filter_):
        return sorted(names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", filter_))

    assert matching("vulnerability.cvssScore > 5") == ["high", "infinite"]
    assert matching("vulnerability.cvssScore = 0") == ["unset"]
    assert matching("vulnerability.cvssScore < 1") == ["negative", "unset"]
    assert matching("vulnerability.cvssScore != 0") == ["high", "infinite", "negative"]  # NaN satisfies no comparison
    # so the negation of any comparison holds for NaN (it read as SQL NULL, and NOT NULL dropped it)
    assert matching("NOT vulnerability.cvssScore < 5") == ["high", "infinite", "nan"]
    assert matching("-vulnerability.cvssScore < 5") == ["high", "infinite", "nan"]
    assert matching("NOT (vulnerability.cvssScore < 5 OR kind = BUILD)") == ["high", "infinite", "nan"]
    assert matching("NOT vulnerability.cvssScore != 0") == ["nan", "unset"]
    assert matching("NOT vulnerability.cvssScore = Infinity") == ["high", "nan", "negative", "unset"]
    # infinite literals (PostgreSQL's containment wrote them as null, and its jsonpath as a string)
    assert matching("vulnerability.cvssScore = Infinity") == ["infinite"]
    assert matching("vulnerability.cvssScore = 1e999") == ["infinite"]
    assert matching('vulnerability.cvssScore = "-Infinity"') == ["negative"]
    assert matching("vulnerability.cvssScore < Infinity") == ["high", "negative", "unset"]
    assert matching("vulnerability.cvssScore >= Infinity") == ["infinite"]
    # bare -Infinity, as the README writes it (was a syntax error at its "-")
    assert matching("vulnerability.cvssScore > -Infinity") == ["high", "infinite", "unset"]
    assert matching("vulnerability.cvssScore = -Infinity") == ["negative"]
    epoch = "vulnerability.packageIssue.affectedVersion.epoch"
    assert matching(f"{epoch} < Infinity") == sorted(scores)
    assert matching(f"{epoch} > -1e999") == sorted(scores)
    assert matching(f"{epoch} >= -Infinity") == sorted(scores)
    assert matching(f"{epoch} = Infinity") == []
    assert matching(f"{epoch} != Infinity") == sorted(scores)


def test_text_orders_by_code_point_on_both_databases(http, project):
    # On PostgreSQL key columns and document fields compared in the database's collation: under an ICU
    # locale "_x" < "a" < "B", where SQLite, and PostgreSQL's jsonpath through repeated fields, have
    # "B" < "_x" < "a". The suite's database may use a C collation, which agrees with code point
    # order; run this once on a database made with --locale-provider=icu --icu-locale=en-US too.
    provider = f"{project}-provider"
    words = ("B", "_x", "a")
    notes = {word: NOTE_BODIES["VULNERABILITY"] for word in words}
    assert http.post(f"/v1/projects/{provider}/notes:batchCreate", json={"notes": notes}).status_code == 200
    base = "https://gcr.io/acme/"
    names = {}
    for word in words:
        body = occurrence_body("VULNERABILITY", f"projects/{provider}/notes/{word}", base + word)
        body["vulnerability"]["shortDescription"] = word
        body["vulnerability"]["packageIssue"][0]["affectedPackage"] = word
        r = http.post(f"/v1/projects/{project}/occurrences", json=body)
        assert r.status_code == 200, r.text
        names[r.json()["name"]] = word
        assert http.post("/v1/projects", json={"name": f"projects/{project}-{word}"}).status_code == 200

    def matching(filter_):
        return sorted(names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", filter_))

    assert sorted(words) == ["B", "_x", "a"]  # Python compares by code point
    # key columns
    assert matching(f'resourceUri < "{base}a"') == ["B", "_x"]
    assert matching(f'resourceUri > "{base}B"') == ["_x", "a"]
    assert matching(f'resourceUri >= "{base}B" resourceUri <= "{base}_x"') == ["B", "_x"]
    assert matching('noteId <= "_x"') == ["B", "_x"]
    assert matching(f'noteProjectId < "{provider}"') == []
    # document fields, one value and through a repeated field alike
    assert matching('vulnerability.shortDescription < "a"') == ["B", "_x"]
    assert matching('vulnerability.shortDescription >= "_x"') == ["_x", "a"]
    assert matching('NOT vulnerability.shortDescription > "B"') == ["B"]
    assert matching('vulnerability.packageIssue.affectedPackage < "a"') == ["B", "_x"]
    assert matching('vulnerability.packageIssue.affectedPackage > "B"') == ["_x", "a"]
    # a project's name
    ours = f'has_prefix(name, "projects/{project}-")'
    r = http.get("/v1/projects", params={"filter": f'{ours} name < "projects/{project}-a"'})
    assert [p["name"] for p in r.json()["projects"]] == [f"projects/{project}-B", f"projects/{project}-_x"]


def test_int64_fields_compare_exactly_beyond_a_double(http, project):
    # The literal was a float: 2**53 + 1 read as 2**53, and 2**63 - 1 matched nothing on SQLite.
    note = f"projects/{project}/notes/b"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "b"}, json=NOTE_BODIES["BUILD"]).ok
    names = {}
    for value in (2**53, 2**53 + 1, 2**63 - 1):
        body = occurrence_body("BUILD", note)
        body["build"] = {"intotoProvenance": {"recipe": {"type": "t", "definedInMaterial": str(value)}}}
        r = http.post(f"/v1/projects/{project}/occurrences", json=body)
        assert r.status_code == 200, r.text
        names[r.json()["name"]] = value

    def matching(filter_):
        path = "build.intotoProvenance.recipe.definedInMaterial"
        return sorted(names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", path + filter_))

    assert matching(f" = {2**53 + 1}") == [2**53 + 1]
    assert matching(f" = {2**63 - 1}") == [2**63 - 1]
    assert matching(f" > {2**53}") == [2**53 + 1, 2**63 - 1]
    assert matching(f" <= {2**53}") == [2**53]
    assert matching(f' = "{2**53 + 1}"') == [2**53 + 1]  # quoted, as the JSON mapping writes int64
    # a decimal point or an exponent read as a double: SQLite found 2**53 for 2**53 + 1, PostgreSQL not
    assert matching(f" = {2**53 + 1}.0") == [2**53 + 1]
    assert matching(" = 9.007199254740993e15") == [2**53 + 1]
    assert matching(f" != {2**53 + 1}.0") == [2**53, 2**63 - 1]
    # a fraction compares exactly too
    assert matching(f" < {2**53}.5") == [2**53]
    assert matching(f" >= {2**53}.5") == [2**53 + 1, 2**63 - 1]
    assert matching(f" = {2**53}.5") == []
    assert matching(f" != {2**53}.5") == [2**53, 2**53 + 1, 2**63 - 1]
    # beyond int64's range (a 500 on both databases): every value is on one side
    assert matching(f" > {2**63}") == []
    assert matching(f" < {2**63}") == [2**53, 2**53 + 1, 2**63 - 1]
    assert matching(f" != {2**63}") == [2**53, 2**53 + 1, 2**63 - 1]
    assert matching(f" > {-(2**63) - 1}") == [2**53, 2**53 + 1, 2**63 - 1]
    assert matching(" < 99999999999999999999999999999") == [2**53, 2**53 + 1, 2**63 - 1]
    assert matching(" >= Infinity") == []
    assert matching(" > -Infinity") == [2**53, 2**53 + 1, 2**63 - 1]
    assert matching(" > 1e999999999") == []


def test_a_field_an_element_leaves_out_reads_as_its_default(http, project):
    # Proto3 defaults held at the top level only: packageIssue.fixAvailable = false found no issue
    # that leaves fixAvailable out (the form every unfixable issue is stored in).
    note = f"projects/{project}/notes/cve"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "cve"}, json=NOTE_BODIES["VULNERABILITY"]).ok
    names = {}
    issues = {
        "fixable": {"fixAvailable": True, "effectiveSeverity": "HIGH"},
        "unfixable": {},
        "unknown-severity": {"effectiveSeverity": "SEVERITY_UNSPECIFIED"},
    }
    for label, extra in issues.items():
        body = occurrence_body("VULNERABILITY", note)
        body["vulnerability"]["packageIssue"] = [{**body["vulnerability"]["packageIssue"][0], **extra}]
        r = http.post(f"/v1/projects/{project}/occurrences", json=body)
        assert r.status_code == 200, r.text
        names[r.json()["name"]] = label

    def matching(filter_):
        return sorted(names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", filter_))

    issue = "vulnerability.packageIssue"
    assert matching(f"{issue}.fixAvailable = false") == ["unfixable", "unknown-severity"]
    assert matching(f"{issue}.fixAvailable = true") == ["fixable"]
    assert matching(f"NOT {issue}.fixAvailable = false") == ["fixable"]
    assert matching(f'{issue}.effectiveSeverity = "SEVERITY_UNSPECIFIED"') == ["unfixable", "unknown-severity"]
    assert matching(f'{issue}.effectiveSeverity != "SEVERITY_UNSPECIFIED"') == ["fixable"]
    # enums order by number (MINIMAL < LOW < MEDIUM), not by name
    assert matching(f'{issue}.effectiveSeverity < "LOW"') == ["unfixable", "unknown-severity"]
    assert matching(f'{issue}.effectiveSeverity >= "MEDIUM"') == ["fixable"]


def test_booleans_order_false_before_true(http, project):
    """`<` `<=` `>` `>=` on a boolean outside any repeated field were a 500 on both databases; then `=` and
    `:` were, on PostgreSQL."""
    note = f"projects/{project}/notes/cve"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "cve"}, json=NOTE_BODIES["VULNERABILITY"]).ok
    names = {}
    for label, fixable in (("fixable", True), ("unfixable", False), ("unsaid", None)):
        body = occurrence_body("VULNERABILITY", note)
        body["vulnerability"] = {**body["vulnerability"], "fixAvailable": fixable}
        body["vulnerability"]["packageIssue"] = [{**body["vulnerability"]["packageIssue"][0], "fixAvailable": fixable}]
        r = http.post(f"/v1/projects/{project}/occurrences", json=body)
        assert r.status_code == 200, r.text
        names[r.json()["name"]] = label

    def matching(filter_):
        return sorted(names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", filter_))

    for field in ("vulnerability.fixAvailable", "vulnerability.packageIssue.fixAvailable"):
        assert matching(f"{field} > false") == ["fixable"], field
        assert matching(f"{field} >= true") == ["fixable"], field
        assert matching(f"{field} < true") == ["unfixable", "unsaid"], field  # unset reads as false
        assert matching(f'{field} <= "false"') == ["unfixable", "unsaid"], field
        assert matching(f"NOT {field} > false") == ["unfixable", "unsaid"], field
        assert matching(f"{field} >= false") == ["fixable", "unfixable", "unsaid"], field
        assert matching(f"{field} = true") == matching(f"{field}:true") == ["fixable"], field
        assert matching(f"{field} = false") == matching(f"{field}:false") == ["unfixable", "unsaid"], field
        assert matching(f"{field} != true") == matching(f"NOT {field} = true") == ["unfixable", "unsaid"], field
        assert matching(f"NOT {field} = false") == ["fixable"], field


def test_bytes_match_whatever_base64_spelling_the_filter_uses(http, project):
    """Stored as standard padded base64, bytes were compared as the filter spelled them: the url-safe or
    unpadded spelling the API accepts in a body found nothing, and text that is not base64 was no error."""
    note = f"projects/{project}/notes/qa"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "qa"}, json=NOTE_BODIES["ATTESTATION"]).ok
    names = {}
    for label, payload in (("hi", "aGk"), ("fbff", "-_8")):  # b"hi" and b"\xfb\xff", sent unpadded and url-safe
        body = occurrence_body("ATTESTATION", note)
        body["attestation"] = {"serializedPayload": payload}
        r = http.post(f"/v1/projects/{project}/occurrences", json=body)
        assert r.status_code == 200, r.text
        names[r.json()["name"]] = label

    def matching(filter_):
        return sorted(names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", filter_))

    for spelling in ("+/8=", "+/8", "-_8=", "-_8"):
        assert matching(f'attestation.serializedPayload = "{spelling}"') == ["fbff"], spelling
        assert matching(f'attestation.serializedPayload != "{spelling}"') == ["hi"], spelling
    assert matching('attestation.serializedPayload:"aGk"') == ["hi"]
    assert matching('has_prefix(attestation.serializedPayload, "aG")') == ["hi"]  # a prefix of the text as stored
    r = http.get(f"/v1/projects/{project}/occurrences", params={"filter": 'attestation.serializedPayload = "!!"'})
    assert r.status_code == 400 and "attestation.serializedPayload holds bytes: '!!' is not base64" in r.text


def test_times_under_repeated_fields_compare_as_times(http, project):
    provider = f"{project}-provider"
    old, new = (
        {"vulnerability": {"details": [{"affectedCpeUri": "cpe:/a", "affectedPackage": "p", "sourceUpdateTime": t}]}}
        for t in ("2023-01-01T00:00:00Z", "2024-03-01T08:00:00.5Z")
    )
    notes = {"leak": NOTE_BODIES["SECRET"], "old": old, "new": new}
    assert http.post(f"/v1/projects/{provider}/notes:batchCreate", json={"notes": notes}).status_code == 200
    statuses = {
        "checked-twice": [
            {"status": "VALID", "updateTime": "2024-05-01T12:00:00.250Z"},
            {"status": "INVALID", "updateTime": "2024-06-01T00:00:00Z"},
        ],
        "never-checked": [{"status": "UNKNOWN"}],
        "no-statuses": [],
    }
    names = {}
    for label, given in statuses.items():
        body = occurrence_body("SECRET", f"projects/{provider}/notes/leak")
        body["secret"]["statuses"] = given
        r = http.post(f"/v1/projects/{project}/occurrences", json=body)
        assert r.status_code == 200, r.text
        names[r.json()["name"]] = label

    def occurrences(filter_):
        return {names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", filter_)}

    # any element, compared as times to the microsecond whatever the offset; an unset time matches nothing
    assert occurrences('secret.statuses.updateTime > "2024-05-15T00:00:00Z"') == {"checked-twice"}
    assert occurrences('secret.statuses.updateTime = "2024-05-01T14:00:00.25+02:00"') == {"checked-twice"}
    assert occurrences('secret.statuses.updateTime < "2024-05-01T12:00:00.25Z"') == set()
    assert occurrences('secret.statuses.update_time <= "2024-05-01T12:00:00.250000001Z"') == {"checked-twice"}
    assert occurrences('secret.statuses.updateTime != "2024-06-01T00:00:00Z"') == {"never-checked", "no-statuses"}
    assert occurrences('NOT secret.statuses.updateTime > "2000-01-01T00:00:00Z"') == {"never-checked", "no-statuses"}
    found = listed(
        http, f"/v1/projects/{provider}/notes", 'vulnerability.details.sourceUpdateTime > "2024-01-01T00:00:00Z"'
    )
    assert [n["name"].rsplit("/", 1)[1] for n in found] == ["new"]
    r = http.get(f"/v1/projects/{project}/occurrences", params={"filter": 'secret.statuses.updateTime:"2024"'})
    assert r.status_code == 400 and "secret.statuses.updateTime is a time" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "filter_, message",
    [
        ('kind="VULNERABILITY" AND', "syntax error: the filter ends early; expected"),
        ('kind == "X"', "syntax error at column 7: unexpected '='"),
        ('(kind="BUILD"', "the filter ends early; expected )"),
        ('kind="BUILD" #', "syntax error at column 14: unexpected character '#'"),
        # keywords are whole words: these were NOT (E = 1), AND c = 1 and ... OR noteId = "CVE-1"
        ("NOTE = 1", "unknown field 'NOTE'"),
        ("kind = BUILD ANDc = 1", "unknown field 'ANDc'"),
        ('kind = BUILD ORnoteId = "CVE-1"', "unknown field 'ORnoteId'"),
        ('color="red"', "unknown field 'color': Occurrence has no field 'color'"),
        ('vulnerability.effectiveSeverity="SEVERE"', "'SEVERE' is not a grafeas.v1.Severity"),
        ('vulnerability.cvssScore="high"', "vulnerability.cvssScore is a number, not 'high'"),
        ("vulnerability.cvssScore != NaN", "vulnerability.cvssScore: no comparison with NaN holds"),
        ('vulnerability.cvssScore < "nan"', "vulnerability.cvssScore: no comparison with NaN holds"),
        ("vulnerability.packageIssue.affectedVersion.epoch != NaN", "no comparison with NaN holds"),
        ("build.intotoProvenance.recipe.definedInMaterial != NaN", "no comparison with NaN holds"),
        ('vulnerability.cvssScore = "٣"', "vulnerability.cvssScore is a number, not '٣'"),  # ASCII digits only
        ('build.intotoProvenance.recipe.definedInMaterial = "1_000"', "is a number, not '1_000'"),
        ("vulnerability.packageIssue.affectedPackage=5", "takes text, not the number 5"),
        ('discovery.lastScanTime:"2024"', "discovery.lastScanTime is a time: compare it with = != < <= > >="),
        ("discovery.lastScanTime > 5", "is a time; compare it with an RFC 3339 string, not a number"),
        ('discovery.lastScanTime > "soon"', "discovery.lastScanTime: 'soon' is not an RFC 3339 timestamp"),
        ('has_prefix(vulnerability.cvssScore, "9")', "has_prefix applies to free text; vulnerability.cvssScore is not"),
        (
            'has_prefix(vulnerability.effectiveSeverity, "CRIT")',
            "vulnerability.effectiveSeverity is a grafeas.v1.Severity: compare it whole",
        ),
        ('createTime > "２０２４-01-01T00:00:00Z"', "not an RFC 3339 timestamp"),  # ASCII digits only, as in Go
        ('discovery.lastScanTime > "2024-01-01T00:00:0٥Z"', "not an RFC 3339 timestamp"),
        ('build.provenance.buildOptions = "x"', "cannot be compared yet; only its presence can"),
        ('build.provenance.buildOptions."a\\"b" = "x"', "map keys with quotes, backslashes or control characters"),
        ('build.provenance.buildOptions."a\tb":*', "map keys with quotes, backslashes or control characters"),
        ('build.provenance.buildOptions."a\nb" = "x"', "map keys with quotes, backslashes or control characters"),
        ('vulnerability."no such"="x"', "unknown field 'vulnerability.no such': vulnerability has no field 'no such'"),
        ('kind="FRUIT"', "'FRUIT' is not a kind"),
        ("kind = 99", "99 is not a kind number; kinds are NOTE_KIND_UNSPECIFIED, VULNERABILITY"),
        ("kind = 1.5", "1.5 is not a kind number"),
        ('kind = "99"', "99 is not a kind number"),
        ("createTime > 5", "createTime is a time; compare it with an RFC 3339 string, not a number"),
        ('createTime > "yesterday"', "not an RFC 3339 timestamp"),
        ("resourceUrl = 5", "resourceUrl takes text, not the number 5"),
        ("resourceUrl = -Infinity", "resourceUrl takes text, not the number -inf"),
        ('has_prefix(kind, "V")', "has_prefix applies to free text; kind is a kind: compare it with = or !="),
        ('has_suffix(noteName, "/CVE-1")', "has_suffix applies to free text; noteName names a note whole"),
        ('has_prefix(createTime, "2024")', "createTime is a time: compare it with = != < <= > >="),
        ('starts_with(resourceUrl, "x")', "unknown function 'starts_with'"),
        ("has_prefix(resourceUrl)", "has_prefix takes a field and a string"),
        ('has_prefix (resourceUrl, "h")', "syntax error at column 24: unexpected ','"),  # a group, not a call
        ("kind", "'kind' alone is not a condition"),
        # a keyword where it cannot stand was read as a field: "'NOT' alone is not a condition; compare it"
        ("NOT NOT kind = BUILD", "syntax error at column 5: unexpected 'NOT'"),
        ("kind = BUILD AND AND kind = IMAGE", "syntax error at column 18: unexpected 'AND'"),
        ("kind = BUILD OR OR kind = IMAGE", "syntax error at column 17: unexpected 'OR'"),
        ("AND", "syntax error at column 1: unexpected 'AND'"),
        ('noteName="CVE-1"', 'noteName must be in the form "projects/[PROJECT_ID]/notes/[NOTE_ID]"'),
        ('has_prefix(resourceUrl, "h") = true', "the left side of = must be a field, not a call of has_prefix"),
        ("kind = (BUILD OR IMAGE)", "the right side of = must be a value"),
    ],
)
def test_bad_filters_are_400_saying_what_is_wrong(http, project, filter_, message):
    r = http.get(f"/v1/projects/{project}/occurrences", params={"filter": filter_})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert message in r.json()["error"]["message"]


def test_filter_text_never_reaches_sql_as_code(http, project, seeded):
    evil = 'x" OR 1=1 --'
    assert listed(http, f"/v1/projects/{project}/occurrences", f"resourceUrl='{evil}'") == []
    assert listed(http, f"/v1/projects/{project}/occurrences", 'resourceUrl="a\'; DROP TABLE occurrences; --"') == []
    assert len(listed(http, f"/v1/projects/{project}/occurrences", "")) == len(OCCURRENCES)


def _deepest(depth: int) -> str:
    """Parentheses `depth` deep, nested the way that nests deepest in SQL: NOT (a AND (b OR NOT (...)))."""
    leaf = 'NOT discovery.lastScanTime > "2024-01-01T00:00:00Z"'
    filter_ = leaf
    for _ in range(depth):
        filter_ = f"NOT ({leaf} AND {leaf} OR {filter_})"
    return filter_


@pytest.mark.parametrize(
    "filter_",
    [
        "NOT (" * 150 + 'kind="BUILD"' + ")" * 150,  # were a RecursionError: 500
        "kind=BUILD AND (" * 200 + "kind=BUILD" + ")" * 200,
        _deepest(MAX_DEPTH + 1),
    ],
    ids=["not-150", "and-200", "deepest"],
)
def test_filters_nested_too_deep_are_400(http, project, filter_):
    r = http.get(f"/v1/projects/{project}/occurrences", params={"filter": filter_})
    assert r.status_code == 400, r.text
    assert f"parentheses nest more than {MAX_DEPTH} deep" in r.json()["error"]["message"]


@pytest.mark.parametrize("path", ["occurrences", "occurrences:vulnerabilitySummary", "notes"])
def test_filters_as_deep_as_allowed_work_on_both_databases(http, project, path):
    # SQLite's parser stack overflowed ("parser stack overflow": a 503) two levels further
    filter_ = _deepest(MAX_DEPTH)
    if path == "notes":
        filter_ = filter_.replace("discovery.lastScanTime", "vulnerability.sourceUpdateTime")
    r = http.get(f"/v1/projects/{project}/{path}", params={"filter": filter_})
    assert r.status_code == 200, r.text


def test_filters_with_too_many_terms_are_400(http, project):
    # SQLite found the chain too deep: a 503, "retry later", for ever (PostgreSQL answered)
    r = http.get(f"/v1/projects/{project}/occurrences", params={"filter": " ".join(["name:*"] * 1000)})
    assert r.status_code == 400, r.text
    assert f"more than {MAX_TERMS} terms" in r.json()["error"]["message"]


def test_filters_with_as_many_terms_as_allowed_work_on_both_databases(http, project, seeded):
    # Each term compiles to an OR of several conditions; merged into one chain, SQLite found it too deep.
    _, names = seeded
    filter_ = " OR ".join(["vulnerability.effectiveSeverity < HIGH"] * MAX_TERMS)
    got = {names[o["name"]] for o in listed(http, f"/v1/projects/{project}/occurrences", filter_)}
    assert got == {"build-a", "disc-c", "pkg-tricky"}


@pytest.mark.parametrize(
    "filter_",
    ['noteName="projects/p/notes/n"', 'has_prefix(resourceUrl, "https://")', 'build.provenance.buildOptions."a,b":*'],
)
def test_statements_of_common_filters_stay_cached_as_compiled_sql(filter_):
    # The elements these compile to had no cache key: every request compiled its statement again.
    assert occurrences_query("p", PageRequest(size=10), parse(filter_))._generate_cache_key() is not None
