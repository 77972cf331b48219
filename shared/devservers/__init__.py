"""Development servers: the embedded NATS and PostgreSQL, and the service processes of `casetrack up`.

For one machine and for tests only. Runtime code (services/*, the runtime parts of shared/) never imports
this package; tests/unit/test_devservers.py keeps it so.
"""

from shared.devservers.engines import EngineFailed, NatsServer, Postgres, ensure_port_free, free_base_port, free_port
from shared.devservers.runfolder import RunFolder
from shared.devservers.supervisor import Backoff, Restart, Supervisor
from shared.devservers.system import ServiceProcess, System

__all__ = ["Backoff", "EngineFailed", "NatsServer", "Postgres", "Restart", "RunFolder", "ServiceProcess",
           "Supervisor", "System", "ensure_port_free", "free_base_port", "free_port"]
