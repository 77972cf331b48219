"""The finance service's read models, one module each (see shared/projections.py for what a projection is)."""
