"""The Batch job definition a scan's trials run with.

The stack registers one job definition (the worker image, one GPU, the retry strategy).
A scan whose config names its own ``image`` runs a copy of it with that image, registered
once per image under ``<stack definition name>-<hash of the image>`` and found again by
that name, so every scan with the same image shares it.
"""

from __future__ import annotations

import hashlib
from typing import Any

# what DescribeJobDefinitions answers that RegisterJobDefinition takes back
_REGISTERED_FIELDS = (
    "type",
    "parameters",
    "schedulingPriority",
    "containerProperties",
    "retryStrategy",
    "propagateTags",
    "timeout",
    "tags",
    "platformCapabilities",
)


def image_definition_name(base_name: str, image: str) -> str:
    """Job definition names allow 128 letters, digits, hyphens and underscores."""
    digest = hashlib.sha256(image.encode()).hexdigest()[:12]
    return f"{base_name[:100]}-{digest}"


class JobDefinitions:
    """Job definition ARNs by image, over an injected boto3 ``batch`` client."""

    def __init__(self, base_arn: str, *, batch: Any) -> None:
        self.base_arn = base_arn
        self._batch = batch

    def for_image(self, image: str | None) -> str:
        """The stack's definition when ``image`` is None, else its copy with ``image``."""
        if not image:
            return self.base_arn
        base = self._describe(jobDefinitions=[self.base_arn])
        if base is None:
            raise LookupError(f"job definition {self.base_arn} not found")
        if base["containerProperties"].get("image") == image:
            return self.base_arn
        name = image_definition_name(base["jobDefinitionName"], image)
        existing = self._describe(jobDefinitionName=name, status="ACTIVE")
        if existing is not None and existing["containerProperties"].get("image") == image:
            return str(existing["jobDefinitionArn"])
        copy = {key: base[key] for key in _REGISTERED_FIELDS if key in base}
        copy["containerProperties"] = {**base["containerProperties"], "image": image}
        answer = self._batch.register_job_definition(jobDefinitionName=name, **copy)
        return str(answer["jobDefinitionArn"])

    def _describe(self, **query: Any) -> dict[str, Any] | None:
        found = self._batch.describe_job_definitions(**query)["jobDefinitions"]
        if not found:
            return None
        return max(found, key=lambda d: int(d.get("revision", 0)))  # type: ignore[no-any-return]
