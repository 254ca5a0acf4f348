"""JUnit XML test reports as the test-result attestation described in grafeas_py/attestations.py.

The report becomes an in-toto Statement v1 with predicate type TEST_RESULT_PREDICATE_TYPE whose
subject is the artifact (name: the resource URI, digest.sha256: the digest the URI names) and
whose predicate lists every test as `suite/classname.name` (no `suite/` when the suite is unnamed;
nested suites use the innermost name). A test with a failure or an error is failed; a skipped test
is warned, since it proved nothing; the rest passed. A suite (or the root <testsuites>) whose
`errors` plus `failures` exceed the failed tests found in it, nested suites included, adds one
failed test named after it (`<testsuite> at line N` when unnamed): a test file that failed to load
lists no test but counts an error. Tests right under <testsuites> count as in a suite of its name.
The result is FAILED when any test failed,
WARNED when any was skipped or the report holds no test at all, else PASSED.

`configuration` names the suite, which the gate's tests rule groups results by, the newest of each
group counting: with `suite=e2e` given, `[{"name": "junit:e2e"}]`; else `[{"name": "junit",
"digest": {"sha256": ...}}]`, the sha256 of the report's test ids sorted and joined by newlines, so
a rerun of the same tests replaces an earlier result while other tests are a group of their own.
(It named the report file by its sha256 before, which made every report its own group: a failed one
was never replaced.) The statement goes into an unsigned DSSE envelope (payload type
IN_TOTO_PAYLOAD_TYPE, no signatures until someone signs it) in a DSSE_ATTESTATION occurrence on the
note `test-results`.

XML is parsed by defusedxml with DTDs refused outright: a JUnit report needs none, and refusing them
stops entity expansion (billion laughs) and external entities alike. junitparser then reads the
tree. Errors name the line.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from grafeas_py.attestations import IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPE, TEST_RESULT_PREDICATE_TYPE
from grafeas_py.errors import InvalidArgument

from . import reading as r
from .digests import require_resource_digest
from .intoto import Envelope, envelope_message, parse_statement, statement_message
from .plan import PlanBuilder

NOTE_ID = "test-results"
MAX_SUITE_LENGTH = 255
# Control characters (C0, C1), lone surrogates (from a command line that is not UTF-8), edge spaces.
_BAD_SUITE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]|^\s|\s$")


@dataclass(frozen=True, slots=True)
class TestResults:
    passed: tuple[str, ...]
    failed: tuple[str, ...]
    warned: tuple[str, ...]

    @property
    def result(self) -> str:
        if self.failed:
            return "FAILED"
        return "WARNED" if self.warned or not self.passed else "PASSED"


class _LineRecorder:
    """A tree builder that remembers the line each element starts on, for error messages."""

    def __init__(self) -> None:
        self.builder = TreeBuilder()
        self.lines: dict = {}
        self.expat = None  # set once the parser exists

    def start(self, tag, attrs):
        element = self.builder.start(tag, attrs)
        self.lines[element] = self.expat.CurrentLineNumber
        return element

    def end(self, tag):
        return self.builder.end(tag)

    def data(self, data):
        self.builder.data(data)

    def close(self):
        return self.builder.close()


def parse(raw: bytes) -> TestResults:
    """Read a JUnit XML report (root <testsuites> or <testsuite>) into passed, failed and warned test names."""
    recorder = _LineRecorder()
    parser = DefusedXMLParser(target=recorder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    recorder.expat = parser.parser
    try:
        parser.feed(raw)
        root = parser.close()
    except ParseError as exc:
        line, column = exc.position
        r.fail("", f"not well-formed XML: {_reason(exc)} at line {line}, column {column + 1}")
    except LookupError as exc:  # an encoding the XML declaration names but Python does not know
        r.fail("", f"not well-formed XML: {exc}")
    except DefusedXmlException:
        line = recorder.expat.CurrentLineNumber
        r.fail("", f"line {line}: DTDs and entities are not allowed in a JUnit report (they enable XML bombs)")
    if root.tag not in ("testsuites", "testsuite"):
        line = recorder.lines.get(root, 1)
        r.fail("", f"line {line}: the root element must be <testsuites> or <testsuite>, got <{root.tag}>")
    suites = _suites(JUnitXml.fromroot(root))
    outcomes: list[list[tuple[str, str]]] = []  # each suite's (outcome, test), in document order
    for suite, _ in suites:
        outcomes.append(_cases(suite, recorder))
    # Tests straight under <testsuites>, which the schema does not allow but a tool may write: left
    # out, a failure there passed the report.
    loose = _cases(TestSuite.fromelem(root), recorder) if root.tag == "testsuites" else []
    # A suite can report errors or failures that no <testcase> holds: a test file that failed to load
    # (jest-junit writes `errors="1" tests="0"`). Counts include nested suites', so children come first.
    failed_under = [sum(outcome == "failed" for outcome, _ in tests) for tests in outcomes]
    unlisted = [False] * len(suites)
    for index in reversed(range(len(suites))):  # a suite's descendants all follow it
        suite, parent = suites[index]
        claimed = _count(suite._elem, "errors") + _count(suite._elem, "failures")
        if claimed > failed_under[index]:
            unlisted[index], failed_under[index] = True, claimed
        if parent is not None:
            failed_under[parent] += failed_under[index]
    found = {"passed": [], "failed": [], "warned": []}
    for outcome, test in loose:
        found[outcome].append(test)
    for index, tests in enumerate(outcomes):
        for outcome, test in tests:
            found[outcome].append(test)
        if unlisted[index]:  # a failed test named after the suite stands for what it did not list
            found["failed"].append(_label(suites[index][0]._elem, recorder))
    top = sum(failed_under[index] for index, (_, parent) in enumerate(suites) if parent is None)
    top += sum(outcome == "failed" for outcome, _ in loose)
    if root.tag == "testsuites" and _count(root, "errors") + _count(root, "failures") > top:
        found["failed"].append(_label(root, recorder))
    return TestResults(tuple(found["passed"]), tuple(found["failed"]), tuple(found["warned"]))


def _cases(suite: TestSuite, recorder: _LineRecorder) -> list[tuple[str, str]]:
    """The (outcome, test) of each <testcase> right inside `suite`, in document order."""
    found = []
    for case in suite.iterchildren(TestCase):
        if not case.name:
            r.fail("", f"line {recorder.lines.get(case._elem, '?')}: <testcase> needs a name attribute")
        name = f"{case.classname}.{case.name}" if case.classname else case.name
        found.append((_outcome(case), f"{suite.name}/{name}" if suite.name else name))
    return found


def _outcome(case: TestCase) -> str:
    """A test with a failure or an error failed; a skipped one is warned; the rest passed."""
    if any(isinstance(x, (Failure, Error)) for x in case.result):
        return "failed"
    return "warned" if any(isinstance(x, Skipped) for x in case.result) else "passed"


def _count(element, attribute: str) -> int:
    """A count attribute; 0 when absent or not a whole number: no tool writes such a count, so it says nothing."""
    digits = (element.get(attribute) or "").strip().lstrip("0")
    if not (digits.isascii() and digits.isdigit()):
        return 0
    return int(digits[:19])  # no real count is longer; int() refuses numbers of over 4300 digits


def _label(element, recorder: _LineRecorder) -> str:
    """The name of a suite, or where it is when it has none."""
    return element.get("name") or f"<{element.tag}> at line {recorder.lines.get(element, '?')}"


def _reason(exc: ParseError) -> str:
    """Expat's message without the position it appends, which the caller words itself."""
    return str(exc).split(": line ")[0]


def _suites(report: JUnitXml) -> list[tuple[TestSuite, int | None]]:
    """Every suite, nested ones included, in document order, each with its parent's index (None at the top)."""
    # A stack, not recursion: a report can nest suites deeper than Python's recursion limit.
    order: list[tuple[TestSuite, int | None]] = []
    stack: list[tuple[TestSuite, int | None]] = [(suite, None) for suite in reversed(list(report))]
    while stack:
        suite, parent = stack.pop()
        order.append((suite, parent))
        stack.extend((child, len(order) - 1) for child in reversed(list(suite.testsuites())))
    return order


def check_suite(suite: str) -> str:
    """A suite name as given to ingestion: 1 to 255 characters, no control characters, no edge spaces."""
    if not suite:
        raise InvalidArgument("suite must not be empty")
    if len(suite) > MAX_SUITE_LENGTH:
        raise InvalidArgument(f"suite must be at most {MAX_SUITE_LENGTH} characters")
    if _BAD_SUITE.search(suite):
        raise InvalidArgument(f"suite must not hold control characters or begin or end with a space, got {suite!r}")
    return suite


def configuration(results: TestResults, suite: str | None) -> list[dict]:
    """The predicate's configuration: the suite named, else the set of tests the report holds."""
    if suite is not None:
        return [{"name": f"junit:{suite}"}]
    tests = "\n".join(sorted({*results.passed, *results.failed, *results.warned}))
    return [{"name": "junit", "digest": {"sha256": hashlib.sha256(tests.encode()).hexdigest()}}]


def ingest(raw: bytes, plan: PlanBuilder, suite: str | None = None) -> None:
    """Plan the test-results note and the DSSE_ATTESTATION occurrence of a JUnit report of `suite`."""
    results = parse(raw)
    statement = {
        "_type": IN_TOTO_STATEMENT_TYPE,
        "subject": [{"name": plan.resource_uri, "digest": {"sha256": require_resource_digest(plan.resource_uri)}}],
        "predicateType": TEST_RESULT_PREDICATE_TYPE,
        "predicate": {
            "result": results.result,
            "configuration": configuration(results, suite),
            "passedTests": list(results.passed),
            "failedTests": list(results.failed),
            "warnedTests": list(results.warned),
        },
    }
    # Sorted keys and no spaces: the same report always gives the same payload bytes, hence the same key.
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    envelope = Envelope(IN_TOTO_PAYLOAD_TYPE, payload, ())
    note = plan.note(
        NOTE_ID,
        {
            "shortDescription": "Test results (in-toto test-result attestations)",
            "dsseAttestation": {"hint": {"humanReadableName": NOTE_ID}},
        },
    )
    attestation = {"envelope": envelope_message(envelope), "statement": statement_message(parse_statement(statement))}
    # The same bytes can report two suites (two empty reports, say): each is its own result.
    identity = ("junit", plan.document_sha256) if suite is None else ("junit", plan.document_sha256, suite)
    plan.occurrence(note, {"dsseAttestation": attestation}, identity)
