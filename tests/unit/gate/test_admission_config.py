"""The admission config as an operator writes it: YAML that reads otherwise than it looks is refused."""

import pytest

from grafeas_py.errors import InvalidArgument
from grafeas_py.gate.admission import load_config


@pytest.mark.parametrize("namespace", ["no", "yes", "on", "off", "true", "False", "null", "~", "0123", "0x1f", "12"])
def test_a_namespace_yaml_reads_as_no_text_is_refused(namespace):
    # YAML 1.1 reads `no` as False; str() made it the key 'False', and namespace `no` fell to the `*` policy.
    text = f"namespaces:\n  {namespace}: projects/acme/policies/strict\n  '*': projects/acme/policies/lax\n"
    with pytest.raises(InvalidArgument) as error:
        load_config(text)
    assert "is not a namespace name" in error.value.message and "quote" in error.value.message


@pytest.mark.parametrize("namespace", ["no", "on", "null", "0123"])
def test_a_quoted_namespace_is_the_namespace(namespace):
    text = f"namespaces:\n  '{namespace}': projects/acme/policies/strict\n  '*': projects/acme/policies/lax\n"
    config = load_config(text)
    assert config.policy_for(namespace) == ("acme", "strict")
    assert config.policy_for("other") == ("acme", "lax")


def test_an_exempt_namespace_yaml_reads_as_no_text_is_refused():
    with pytest.raises(InvalidArgument) as error:
        load_config("exemptNamespaces: [kube-system, no]\n")
    assert "quote" in error.value.message
