"""Where ``list_scans`` finds a scan on DynamoDB: the ``owner`` index, keyed by the scan
item's ``o_pk``, which is written as the scan's owner and moved by ``relist_scan``
(scans stored before tenancy carry their creator's ARN there; the service lists them
under the tenant that ARN maps to). Only ``o_pk`` moves: the record, its ``owner``
included, and the client token's item stay as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanfleet.store._dynamodb import DynamoDBTrialStore

_SCAN_PREFIX = "SCAN#"


def scans_listed_under(store: DynamoDBTrialStore, prefix: str) -> list[tuple[str, str]]:
    """A paginated ``Scan`` of the owner index (scan items only, never a trial), filtered
    on the listing key; each entry read is the scan's keys, status and tags."""
    index = store.layout.owner
    entries = store._scan_index(
        IndexName=index.name,
        FilterExpression="begins_with(#o, :p)",
        ProjectionExpression="#pk, #o",
        ExpressionAttributeNames={"#pk": store.layout.partition_key, "#o": index.partition_key},
        ExpressionAttributeValues={":p": {"S": prefix}},
    )
    listed = [
        (str(entry[store.layout.partition_key]["S"]).removeprefix(_SCAN_PREFIX),
         str(entry[index.partition_key]["S"]))
        for entry in entries
    ]  # fmt: skip
    return sorted(listed)


def relist_scan(store: DynamoDBTrialStore, scan_id: str, listed_as: str, list_as: str) -> bool:
    """One ``UpdateItem`` of the scan item's ``o_pk``, on condition that it is still
    ``listed_as`` (false too when the item does not exist, so none is made)."""
    try:
        store.client.update_item(
            TableName=store.table,
            Key=store.layout.scan_key(scan_id),
            UpdateExpression="SET #o = :to",
            ConditionExpression="#o = :from",
            ExpressionAttributeNames={"#o": store.layout.owner.partition_key},
            ExpressionAttributeValues={":to": {"S": list_as}, ":from": {"S": listed_as}},
        )
    except store.client.exceptions.ConditionalCheckFailedException:
        return False
    return True
