"""The gate's operations: policies kept as immutable revisions, and evaluation that is recorded.

The engine (`engine.evaluate`) is pure; this module checks the caller's permissions (`Access`, before
anything is read, as `service.Grafeas` does), loads what the engine needs, calls it, and stores the
decision. A parsed policy is cached by (project, policy id, revision): revisions never change,
so the cache cannot go stale, and every instance may keep its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import OrderedDict

from .. import fieldmask
from ..auth import roles
from ..auth.access import Access
from ..errors import FailedPrecondition, InvalidArgument
from ..names import check_new_project, decision_name, new_id, parse_note_name, policy_name
from ..storage import Page, PageRequest
from ..validation import MAX_RESOURCE_URI_LENGTH, ODD_RESOURCE_URI, odd_resource_uri
from ..wire.timestamps import from_datetime
from .artifacts import artifact_lookup
from .engine import evaluate, notes_needed
from .model import Breakglass, Policy
from .policy import load_policy_text, parse_policy
from .withholding import withheld

OUTPUT_ONLY = ("name", "revision", "createTime", "updateTime", "deleted")
# An artifact with more occurrences than this is denied rather than judged on a part of them.
MAX_OCCURRENCES = 20_000
_CACHED_POLICIES = 256


class TooManyOccurrences(FailedPrecondition):
    """More occurrences on one artifact than the gate reads: refuse rather than judge on a part."""


def _document(body: dict) -> dict:
    """The policy document of a request: output-only fields are ignored, as for Grafeas resources."""
    if not isinstance(body, dict):
        raise InvalidArgument("a policy must be a JSON or YAML object")
    return {k: v for k, v in body.items() if k not in OUTPUT_ONLY}


def _strip(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in OUTPUT_ONLY}


class Gate:
    """Policies, evaluation and decisions over a `Storage`."""

    def __init__(self, storage, access: Access | None = None, clock=None) -> None:
        self.storage = storage
        self.access = access or Access.unrestricted()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._policies: OrderedDict[tuple[str, str, int], tuple[Policy, list[str]]] = OrderedDict()
        self._lock = threading.Lock()

    # ---- policies --------------------------------------------------------------------------

    @staticmethod
    def load_text(raw: bytes, content_type: str) -> dict:
        """A policy document from YAML (or JSON) text; syntax errors are 400s with a line and column."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument("the policy must be UTF-8 text") from None
        return load_policy_text(text, content_type)

    def _require(self, permission: str, project_id: str, resource: str | None = None) -> None:
        self.access.require(permission, project_id, resource)

    def _require_readable(self, project_id: str, others: list[str]) -> None:
        """A policy reads the occurrences of its `occurrenceProjects` and shows them to whoever evaluates
        it, so its author, and each evaluator, must be allowed to list them: a policy is no way round
        another project's access (as Binary Authorization's agent needs read access to attestors'
        occurrences), and losing that access ends the reads."""
        for other in others:
            if other != project_id:
                self._require(roles.OCCURRENCES_LIST, other)

    def _require_named_notes(self, project_id: str, policy: Policy) -> None:
        """The compliance rule's notes are read at each evaluation, which warns where one is missing or of
        another kind: naming a note needs the right to read it, or a policy would tell its author whether
        any project's note exists and what it is."""
        compliance = policy.rules.compliance
        for name in compliance.note_names if compliance else ():
            note = parse_note_name(name, "rules.compliance.noteNames")
            if note.project != project_id:
                self._require(roles.NOTES_GET, note.project, name)

    def create_policy(self, project_id: str, policy_id: str, body: dict) -> dict:
        self._require(roles.POLICIES_CREATE, project_id)
        check_new_project(project_id)
        document = _document(body)
        parsed = parse_policy(document)  # 400 naming every offending field
        self._require_readable(project_id, self.occurrence_projects(document))
        self._require_named_notes(project_id, parsed)
        now = from_datetime(self._clock())
        resource = {"name": policy_name(project_id, policy_id), "createTime": now, "updateTime": now, **document}
        return self.storage.create_policy(project_id, policy_id, resource)

    def get_policy(self, project_id: str, policy_id: str) -> dict:
        self._require(roles.POLICIES_GET, project_id, policy_name(project_id, policy_id))
        return self.storage.get_policy(project_id, policy_id)[0]

    def list_policies(self, project_id: str, page: PageRequest) -> Page:
        self._require(roles.POLICIES_LIST, project_id)
        return self.storage.list_policies(project_id, page)

    def update_policy(self, project_id: str, policy_id: str, body: dict) -> dict:
        """Replace the document; the result is a new revision (409 if another update won the race)."""
        self._require(roles.POLICIES_UPDATE, project_id, policy_name(project_id, policy_id))
        document = _document(body)
        parsed = parse_policy(document)
        self._require_readable(project_id, self.occurrence_projects(document))
        self._require_named_notes(project_id, parsed)
        current, revision = self.storage.get_policy(project_id, policy_id)
        resource = {
            "name": current["name"],
            "createTime": current["createTime"],
            "updateTime": from_datetime(self._clock()),
            **document,
        }
        # Dotted paths (`rules.scan.maxAge`), as the history of notes and occurrences records them.
        changed = fieldmask.changed_paths(_strip(current), _strip(resource))
        if not changed:
            return current  # the same document again: no new revision for decisions to cite
        return self.storage.update_policy(project_id, policy_id, resource, revision, changed)

    def delete_policy(self, project_id: str, policy_id: str) -> None:
        self._require(roles.POLICIES_DELETE, project_id, policy_name(project_id, policy_id))
        self.storage.delete_policy(project_id, policy_id, from_datetime(self._clock()))

    def list_revisions(self, project_id: str, policy_id: str, page: PageRequest) -> Page:
        self._require(roles.POLICIES_GET, project_id, policy_name(project_id, policy_id))
        return self.storage.list_policy_revisions(project_id, policy_id, page)

    def get_revision(self, project_id: str, policy_id: str, revision: int) -> dict:
        self._require(roles.POLICIES_GET, project_id, policy_name(project_id, policy_id))
        return self.storage.get_policy_revision(project_id, policy_id, revision)

    def _parsed(self, project_id: str, policy_id: str, revision: int) -> tuple[Policy, list[str]]:
        """The parsed policy at `revision` and the projects it reads occurrences from."""
        key = (project_id, policy_id, revision)
        with self._lock:
            cached = self._policies.get(key)
            if cached is not None:
                self._policies.move_to_end(key)
                return cached
        # The revision table, not the current row: the policy may have changed since `revision` was read.
        resource = self.storage.get_policy_revision(project_id, policy_id, revision)
        parsed = parse_policy(_strip(resource)), self.occurrence_projects(resource)
        with self._lock:
            self._policies[key] = parsed
            while len(self._policies) > _CACHED_POLICIES:
                self._policies.popitem(last=False)
        return parsed

    # ---- evaluation ------------------------------------------------------------------------

    def evaluate(self, project_id: str, policy_id: str, resource_uri, breakglass=None, record_it: bool = True) -> dict:
        """Judge one artifact against the policy's current revision, and record the decision (unless
        `record_it` is false: a Kubernetes dry run must have no side effects)."""
        self._require(roles.POLICIES_EVALUATE, project_id, policy_name(project_id, policy_id))
        if not isinstance(resource_uri, str) or not resource_uri:
            raise InvalidArgument("resourceUri is required: the artifact to judge, e.g. https://gcr.io/p/i@sha256:...")
        if "\x00" in resource_uri:
            raise InvalidArgument("resourceUri must not contain the NUL character (U+0000)")
        if len(resource_uri) > MAX_RESOURCE_URI_LENGTH:
            raise InvalidArgument(f"resourceUri must be at most {MAX_RESOURCE_URI_LENGTH} characters, as occurrences'")
        if odd_resource_uri(resource_uri):
            raise InvalidArgument(ODD_RESOURCE_URI)
        glass = None
        if breakglass is not None:
            justification = breakglass.get("justification", "") if isinstance(breakglass, dict) else None
            if not isinstance(justification, str) or set(breakglass) - {"justification"}:
                raise InvalidArgument('breakglass must be {"justification": "..."}')
            if "\x00" in justification:
                raise InvalidArgument("breakglass.justification must not contain the NUL character (U+0000)")
            glass = Breakglass(justification)
        revision = self.storage.policy_revision(project_id, policy_id)
        policy, more_projects = self._parsed(project_id, policy_id, revision)
        self._require_readable(project_id, more_projects)
        projects = [project_id, *(p for p in more_projects if p != project_id)]
        occurrences = self._artifact_occurrences(projects, resource_uri)
        if len(occurrences) > MAX_OCCURRENCES:
            raise TooManyOccurrences(
                f"{resource_uri} has more than {MAX_OCCURRENCES} occurrences; the gate does not judge on a part"
            )
        notes = self._notes(notes_needed(policy, occurrences))
        now = self._clock()
        decision = evaluate(policy, resource_uri, occurrences, now, glass, notes)
        decision_id = new_id()
        record = {
            "name": decision_name(project_id, decision_id),
            "policy": policy_name(project_id, policy_id),
            "policyRevision": revision,
            "resourceUri": resource_uri,
            "evaluateTime": from_datetime(now),
            **decision.to_dict(),
        }
        if not record_it:
            return record
        return self.storage.record_decision(project_id, decision_id, policy_id, record)

    def _artifact_occurrences(self, projects: list[str], resource_uri: str) -> list[dict]:
        """The occurrences stored for the artifact in these projects (see `artifact_lookup`)."""
        uris, keys = artifact_lookup(resource_uri)
        return self.storage.artifact_occurrences(projects, uris, keys, MAX_OCCURRENCES + 1)

    def _notes(self, names: set[str]) -> dict[str, dict]:
        """The notes of these names that exist, by name. Whoever may evaluate may read what an occurrence's
        note says of it, as whoever may read an occurrence may read its note."""
        refs = []
        for name in sorted(names):
            try:
                refs.append(parse_note_name(name))
            except InvalidArgument:
                continue  # no note has that name: the rule judges the occurrence as one whose note is gone
        return {ref.name: note for ref, note in self.storage.get_notes(refs).items()} if refs else {}

    @staticmethod
    def occurrence_projects(resource: dict) -> list[str]:
        """Projects whose occurrences the policy reads besides its own (`occurrenceProjects`)."""
        return list(resource.get("occurrenceProjects") or [])

    # ---- decisions -------------------------------------------------------------------------

    def get_decision(self, project_id: str, decision_id: str) -> dict:
        self._require(roles.DECISIONS_GET, project_id, decision_name(project_id, decision_id))
        return self.as_readable(project_id, [self.storage.get_decision(project_id, decision_id)])[0]

    def list_decisions(self, project_id: str, page: PageRequest, filter_=None) -> Page:
        self._require(roles.DECISIONS_LIST, project_id)
        found = self.storage.list_decisions(project_id, page, filter_)
        return dataclasses.replace(found, items=self.as_readable(project_id, found.items))

    def as_readable(self, project_id: str, records: list[dict]) -> list[dict]:
        """Decisions of the project as the caller may see them: what they read in another project whose
        occurrences the caller may not list is withheld (see `withholding`)."""
        readable = self.access.scope(roles.OCCURRENCES_LIST)
        return [withheld(record, project_id, readable) for record in records]
