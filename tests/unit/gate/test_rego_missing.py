"""Without regopy installed, a Rego policy is refused with the way to install it."""

from __future__ import annotations

import pytest

from grafeas_py.errors import InvalidArgument
from grafeas_py.gate import parse_policy
from grafeas_py.gate import rego as rego_module

MODULE = 'package gate\nimport rego.v1\ndeny contains "x" if { true }\n'


def test_without_regopy_a_rego_policy_is_refused(monkeypatch):
    monkeypatch.setattr(rego_module, "available", lambda: False)
    with pytest.raises(InvalidArgument, match=r"rego: Rego policies need regopy: install grafeas-py\[rego\]"):
        parse_policy({"rego": MODULE})
