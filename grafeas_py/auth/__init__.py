"""Identity, roles and the audit trail: who may do what, and a record that cannot be quietly changed."""

# Modules, in the order a request meets them:
#   settings  AuthSettings.from_env(): GRAFEAS_AUTH and the GRAFEAS_OIDC_* / GRAFEAS_MTLS_* variables
#   authn     build_chain(settings, token_lookup).authenticate(headers, environ) -> Principal; wiring example
#   tokens, oidc, mtls   the three methods; principal  the Principal they produce
#   roles     permissions and ROLE_PERMISSIONS; authz  Binding, Authorizer.check, check_occurrence_write
#   audit     the hash-chained audit trail: chain_next, verify_chain
