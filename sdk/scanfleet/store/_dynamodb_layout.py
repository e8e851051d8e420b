"""The DynamoDB table's layout: the one place that names keys and indexes. The store and
the CDK stack both import it, so they cannot disagree."""

from __future__ import annotations

from typing import Any

PK = "pk"
SK = "sk"

# sparse GSIs: an item is in the index only while it has the index's key attributes
QUEUE_INDEX = "queue"  # QUEUED trials of a scan, by number
QUEUE_PK, QUEUE_SK = "q_pk", "q_sk"
LEASE_INDEX = "lease"  # RUNNING trials of a scan, by lease expiry
LEASE_PK, LEASE_SK = "l_pk", "l_sk"
NUMBER_INDEX = "number"  # every trial of a scan, by number (streamed listing)
NUMBER_PK, NUMBER_SK = "n_pk", "n_sk"
OWNER_INDEX = "owner"  # scans of an owner, by creation time
OWNER_PK, OWNER_SK = "o_pk", "o_sk"

INDEXES: dict[str, tuple[str, str, str]] = {
    # name: (partition key, sort key, sort key type)
    QUEUE_INDEX: (QUEUE_PK, QUEUE_SK, "N"),
    LEASE_INDEX: (LEASE_PK, LEASE_SK, "N"),
    NUMBER_INDEX: (NUMBER_PK, NUMBER_SK, "N"),
    OWNER_INDEX: (OWNER_PK, OWNER_SK, "S"),
}


def scan_key(scan_id: str) -> dict[str, Any]:
    return {PK: {"S": f"SCAN#{scan_id}"}, SK: {"S": "SCAN"}}


def trial_key(scan_id: str, trial_id: str) -> dict[str, Any]:
    return {PK: {"S": f"SCAN#{scan_id}"}, SK: {"S": f"TRIAL#{trial_id}"}}


def token_key(owner: str, token: str) -> dict[str, Any]:
    return {PK: {"S": f"TOKEN#{owner}#{token}"}, SK: {"S": "TOKEN"}}


def curve_key(scan_id: str, metric: str, trial_id: str, step: int) -> dict[str, Any]:
    return {
        PK: {"S": f"SCAN#{scan_id}"},
        SK: {"S": f"CURVE#{metric}#{trial_id}#{step:012d}"},
    }


def create_table(client: Any, table_name: str) -> None:
    """Create the table (tests, and anyone without the CDK stack). On-demand billing."""
    attributes = [
        {"AttributeName": PK, "AttributeType": "S"},
        {"AttributeName": SK, "AttributeType": "S"},
    ]
    indexes = []
    for name, (pk, sk, sk_type) in INDEXES.items():
        attributes += [
            {"AttributeName": pk, "AttributeType": "S"},
            {"AttributeName": sk, "AttributeType": sk_type},
        ]
        indexes.append(
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    client.create_table(
        TableName=table_name,
        KeySchema=[
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=attributes,
        GlobalSecondaryIndexes=indexes,
        BillingMode="PAY_PER_REQUEST",
    )
