"""The outcomes service's aggregates, their events' rules and named errors (pure: imports only shared.aggregate,
shared.contracts and shared.errors). None yet: they come with the outcomes issue."""
