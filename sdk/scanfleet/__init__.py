"""scanfleet: hyperparameter scans on GPUs, locally or on AWS Batch Spot.

``import scanfleet`` stays cheap: the client and the runtime load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from scanfleet.client import Client
    from scanfleet.runtime.current import current_trial

__all__ = ["Client", "current_trial"]


def __getattr__(name: str) -> Any:
    if name == "current_trial":
        from scanfleet.runtime.current import current_trial

        return current_trial
    if name == "Client":
        from scanfleet.client import Client

        return Client
    raise AttributeError(name)
