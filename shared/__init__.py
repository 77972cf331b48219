"""Code every casetrack service shares: event contracts, subjects, store, outbox, consumers, settings."""
