"""Development servers: the embedded NATS and PostgreSQL, and the service processes of `casetrack up`.

For one machine and for tests only. Runtime code (services/*, the runtime parts of shared/) never imports
this package; tests/unit/test_devservers.py keeps it so.
"""

from shared.devservers.engines import EngineFailed, NatsServer, Postgres, ensure_port_free, free_port
from shared.devservers.system import ServiceProcess, System

__all__ = ["EngineFailed", "NatsServer", "Postgres", "ServiceProcess", "System", "ensure_port_free", "free_port"]
