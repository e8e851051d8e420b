"""scanfleet: hyperparameter scans on GPUs, locally or on AWS Batch Spot.

``import scanfleet`` stays cheap: the client, the runtime and ``optimize`` load on first
use. A training script's path (``current_trial()`` and its calls) imports no pydantic,
boto3 or optuna (``bench/import_time.py``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: a script's path
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from scanfleet.client import Client
    from scanfleet.local.optimize import optimize
    from scanfleet.runtime.current import current_trial

__all__ = ["Client", "current_trial", "optimize"]


def __getattr__(name: str) -> Any:
    if name == "current_trial":
        from scanfleet.runtime.current import current_trial

        return current_trial
    if name == "Client":
        from scanfleet.client import Client

        return Client
    if name == "optimize":
        from scanfleet.local.optimize import optimize

        return optimize
    raise AttributeError(name)
