"""A living demo county: parameters (a YAML file a commissioner can edit), a seeded simulator of young people's
journeys through it, and a driver that sends what happens through casetrack's real interfaces (`casetrack demo`)."""
