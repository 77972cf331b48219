"""The journeys service: the read side, projecting every service's events into journeys."""
