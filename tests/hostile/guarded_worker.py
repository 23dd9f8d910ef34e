"""`newsworker` with the hostile suite's network model: only 127.0.0.1 counts as public.

The fleet test runs the real worker through this entry point, so the private-address guard
stays on (NEWSWORKER_ALLOW_PRIVATE_ADDRESSES=false) while the feed servers live on 127.0.0.1 and
the "private" redirect target lives on 127.0.0.2.
"""

from __future__ import annotations

import newsworker.stages.fetch.address
from newsworker.worker.cli import main


def only_127_0_0_1_is_public(address: str) -> bool:
    """The network model of the hostile tests."""
    return address == "127.0.0.1"


if __name__ == "__main__":
    newsworker.stages.fetch.address.is_public_address = only_127_0_0_1_is_public
    main()
