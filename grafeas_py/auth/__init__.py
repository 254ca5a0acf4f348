"""Identity, roles and the audit trail: who may do what, and a record that cannot be quietly changed."""
