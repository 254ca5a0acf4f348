"""A stored decision as a caller who may not list every project it read sees it."""

from grafeas_py.gate.withholding import withheld

OWN = "projects/team/occurrences/o1"
THEIRS = "projects/scanner/occurrences/s1"
NOTE = "projects/nvd/notes/CVE-1"


def finding(message: str, *evidence: str) -> dict:
    return {
        "rule": "vulnerabilities",
        "mode": "enforce",
        "code": "SEVERITY_EXCEEDED",
        "message": message,
        "evidence": list(evidence),
    }


RECORD = {
    "name": "projects/team/decisions/d",
    "decision": "DENY",
    "allowed": False,
    "violations": [finding("CVE-1 in openssl", THEIRS, NOTE), finding("CVE-2 in zlib", OWN)],
    "warnings": [finding("CVE-3 in curl", OWN, THEIRS)],
    "exempted": [finding("CVE-4 in libc", THEIRS)],
    "usedOccurrences": [OWN, THEIRS],
}


def test_what_rests_on_a_project_the_caller_may_not_list_is_withheld():
    shown = withheld(RECORD, "team", readable=set())
    said = "withheld: this finding rests on occurrences in projects/scanner, which the caller may not list"
    assert shown["usedOccurrences"] == [OWN]
    assert shown["violations"] == [finding(said, NOTE), RECORD["violations"][1]]  # notes are no project's secret
    assert shown["warnings"] == [finding(said, OWN)]
    assert shown["exempted"] == [finding(said)]
    assert (shown["decision"], shown["allowed"], shown["name"]) == ("DENY", False, RECORD["name"])
    assert RECORD["usedOccurrences"] == [OWN, THEIRS]  # the stored record is left as it was


def test_a_caller_who_may_list_every_project_read_sees_it_all():
    assert withheld(RECORD, "team", readable={"scanner"}) is RECORD
    assert withheld(RECORD, "scanner", readable={"team"}) is RECORD  # the decision's own project is its own


def test_records_citing_no_other_project_are_shown_whole():
    own_only = {**RECORD, "violations": [finding("x", OWN)], "warnings": [], "usedOccurrences": [OWN]}
    own_only.pop("exempted")
    assert withheld(own_only, "team", readable=set()) is own_only


def test_a_rego_message_is_withheld_whatever_it_cites():
    """A module's message is free text made from every occurrence it read, and its evidence optional: one that
    quoted another project's occurrence without citing it was shown whole."""
    quoting = {**finding(f"{THEIRS} says secret", OWN), "rule": "rego", "code": "REGO_DENY"}
    record = {**RECORD, "violations": [quoting, RECORD["violations"][1]], "warnings": [], "exempted": []}
    shown = withheld(record, "team", readable=set())
    said = "withheld: this finding rests on occurrences in projects/scanner, which the caller may not list"
    assert shown["violations"] == [{**quoting, "message": said}, RECORD["violations"][1]]
    assert withheld(record, "team", readable={"scanner"}) is record
