"""Scans stored before tenancy (owner: the creator's ARN, which the store lists them under)
are listed for the tenant that ARN maps to: the first listing of a service moves each to
its tenant, once; a scan whose ARN the mapping later gives to another tenant is listed for
that tenant only, never for the one it was moved to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scanfleet.config import ConfigError
from scanfleet.records import ScanRecord
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore
from scanfleet.tenancy import Tenant, TenantMap

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
GRID = {"strategy": "grid", "metric": {"name": "loss"}, "parameters": {"a": {"values": [1, 2]}}}


def service_over(path: Path, mapping: dict[str, str | None]) -> ScanService:
    """A service over the store file at ``path`` with this tenant mapping (a container
    started with it)."""
    service = ScanService(SQLiteTrialStore(path))
    service.context.tenants = TenantMap.parse(json.dumps(mapping))
    return service


def stored_before_tenancy(service: ScanService, owner: str, name: str = "old") -> ScanRecord:
    scan, _ = service.create_scan(name, GRID, owner=owner)  # a plain owner string: the ARN
    assert scan.owner == owner
    return scan


def test_scans_stored_under_an_arn_are_listed_for_its_tenant_from_the_first_listing(
    tmp_path: Path,
) -> None:
    service = service_over(tmp_path / "s.db", {ALICE: "vision", BOB: None})
    old = stored_before_tenancy(service, ALICE)
    refused = stored_before_tenancy(service, BOB)
    new, _ = service.create_scan("new", GRID, owner=Tenant("vision"))
    listed = service.list_scans(owner=Tenant("vision"))
    assert [s.scan_id for s in listed] == [new.scan_id, old.scan_id]
    assert service.get_scan(old.scan_id, owner=Tenant("vision")).owner == ALICE
    store = service.context.store
    assert store.scans_listed_under("arn:") == [(refused.scan_id, BOB)]  # refused: stays
    assert service.scans.relist_arn_owned_scans() == 0  # once per service
    restarted = service_over(tmp_path / "s.db", {ALICE: "vision", BOB: None})
    assert restarted.scans.relist_arn_owned_scans() == 0  # nothing left to move
    assert [s.scan_id for s in restarted.list_scans(owner=Tenant("vision"))] == [
        new.scan_id,
        old.scan_id,
    ]


def test_a_scan_whose_arn_now_maps_to_another_tenant_is_listed_for_that_tenant_only(
    tmp_path: Path,
) -> None:
    before = service_over(tmp_path / "s.db", {ALICE: "vision"})
    old = stored_before_tenancy(before, ALICE)
    assert [s.scan_id for s in before.list_scans(owner=Tenant("vision"))] == [old.scan_id]
    after = service_over(tmp_path / "s.db", {ALICE: "audio"})  # the mapping changed
    with pytest.raises(ConfigError, match="no scan of yours"):  # still listed under vision
        after.create_scan("again", {**GRID, "reuse_from": ["old"]}, owner=Tenant("vision"))
    assert after.list_scans(owner=Tenant("vision")) == []  # not vision's any more
    assert [s.scan_id for s in after.list_scans(owner=Tenant("audio"))] == [old.scan_id]
    assert after.context.store.list_scans("vision") == []  # moved to audio by that listing


def test_a_scan_stored_before_tenancy_is_found_by_name_for_reuse(tmp_path: Path) -> None:
    stored_before_tenancy(service_over(tmp_path / "s.db", {ALICE: "vision"}), ALICE)
    fresh = service_over(tmp_path / "s.db", {ALICE: "vision"})  # no listing yet
    scan, _ = fresh.create_scan("again", {**GRID, "reuse_from": ["old"]}, owner=Tenant("vision"))
    [old] = fresh.list_scans(owner=Tenant("vision"))[1:]
    assert scan.config["reuse_from"] == [old.scan_id]
