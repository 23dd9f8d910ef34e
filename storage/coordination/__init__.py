"""Fleet-wide coordination: per-feed locks, per-host request budgets, outage window and canary.

`Coordinator` (coordinator.py) holds the policy; the state lives in a `CoordinationStore`
(protocol.py): `RedisStore` (redis.py) shared by the fleet, or `MemoryStore` (memory.py) shared
within one process. Every Redis key name is built in keys.py, every Lua script is in scripts.py.
"""

from newsworker.storage.coordination.coordinator import Coordinator
from newsworker.storage.coordination.keeper import LockKeeper
from newsworker.storage.coordination.keys import KEY_PREFIX, CoordinationKeys
from newsworker.storage.coordination.memory import LocalCoordinationState, MemoryStore
from newsworker.storage.coordination.policy import CoordinationPolicy, lock_lease_within
from newsworker.storage.coordination.protocol import CoordinationStore, PollSlot
from newsworker.storage.coordination.redis import RedisStore

__all__ = [
    "KEY_PREFIX",
    "CoordinationKeys",
    "CoordinationPolicy",
    "CoordinationStore",
    "Coordinator",
    "LocalCoordinationState",
    "LockKeeper",
    "MemoryStore",
    "PollSlot",
    "RedisStore",
    "lock_lease_within",
]
