"""Test-only extracts of the reference scorers (provenance in each module)."""
