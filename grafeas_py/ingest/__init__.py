"""Ingestion: scanner, SBOM, provenance and test reports mapped onto Grafeas notes and occurrences."""
