"""A stored decision as shown to a caller who may not list the occurrences of every project it read.

Evaluating a policy that reads other projects' occurrences (`occurrenceProjects`) needs the right to
list them, since the answer shows what was read there. The recorded answer is read back under the
decision's own project (decisions.get, decisions.list, the artifact timeline); there, what rests on
occurrences of a project the reader may not list is withheld: those occurrences' names, and the
messages of the findings that cite them (which quote what they say). The outcome stays: it is the
policy project's own record.
"""

from __future__ import annotations

from collections.abc import Container

_FINDINGS = ("violations", "warnings", "exempted")


def withheld(record: dict, own_project: str, readable: Container[str]) -> dict:
    """`record` without what it read in projects other than `own_project` that are not `readable`."""
    hidden = {
        project
        for name in _occurrence_names(record)
        if (project := _project_of(name)) is not None and project != own_project and project not in readable
    }
    if not hidden:
        return record
    shown = dict(record)
    shown["usedOccurrences"] = [name for name in record.get("usedOccurrences", []) if _project_of(name) not in hidden]
    for key in _FINDINGS:
        if isinstance(record.get(key), list):
            shown[key] = [_finding(finding, hidden) for finding in record[key]]
    return shown


def _finding(finding, hidden: set[str]):
    """The finding, its message and evidence withheld if it cites an occurrence in a `hidden` project; a
    Rego finding's message whatever it cites, since a module's message is free text made from every
    occurrence read (its evidence is optional, and its own example leaves it out)."""
    if not isinstance(finding, dict):
        return finding
    evidence = finding.get("evidence") if isinstance(finding.get("evidence"), list) else []
    cited = sorted({project for name in evidence if (project := _project_of(name)) in hidden})
    if not cited and finding.get("rule") == "rego":
        cited = sorted(hidden)
    if not cited:
        return finding
    projects = ", ".join(f"projects/{project}" for project in cited)
    return {
        **finding,
        "message": f"withheld: this finding rests on occurrences in {projects}, which the caller may not list",
        "evidence": [name for name in evidence if _project_of(name) not in hidden],
    }


def _occurrence_names(record: dict) -> list[str]:
    """Every occurrence name the record cites: those used, and the evidence of its findings."""
    names = list(record.get("usedOccurrences") or [])
    for key in _FINDINGS:
        for finding in record.get(key) or []:
            if isinstance(finding, dict) and isinstance(finding.get("evidence"), list):
                names += finding["evidence"]
    return names


def _project_of(name) -> str | None:
    """The project of an occurrence name (`projects/P/occurrences/ID`); None for anything else (a note)."""
    if not isinstance(name, str):
        return None
    parts = name.split("/")
    if len(parts) == 4 and parts[0] == "projects" and parts[2] == "occurrences":
        return parts[1]
    return None
