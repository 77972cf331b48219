"""Moved to shared.devservers; this re-export lets branches written against the old path merge.
The lead removes it once every import says shared.devservers."""

from shared.devservers import EngineFailed, NatsServer, Postgres, ServiceProcess, System, ensure_port_free, free_port

__all__ = ["EngineFailed", "NatsServer", "Postgres", "ServiceProcess", "System", "ensure_port_free", "free_port"]
