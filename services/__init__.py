"""The casetrack services: each owns its events and runs as its own process."""
