"""The finance service."""
