"""Where ``list_scans`` finds a scan (``scans_listed_under``, ``relist_scan``), mixed into
``TrialStoreContract`` so every store runs it: a scan stored before tenancy is listed under
its creator's ARN until it is moved to its tenant; its record stays as stored."""

from __future__ import annotations

from scanfleet.records import ScanRecord, ScanStatus, new_scan_id
from scanfleet.store import TrialStore

ALICE = "arn:aws:iam::123456789012:user/alice"
JOB = "arn:aws:sts::123456789012:assumed-role/scanfleet-JobRole-1AB2C3/job-7"


def _stored(store: TrialStore, owner: str, created_at: float) -> ScanRecord:
    scan = ScanRecord(
        scan_id=new_scan_id(), name="s", owner=owner, config={"strategy": "grid"}, max_run=3,
        created_at=created_at, tags={"team": "vision"},
    )  # fmt: skip
    store.create_scan(scan)
    return scan


class ListingContract:
    def test_scans_listed_under_a_prefix_are_those_of_every_owner_keyed_so(
        self, store: TrialStore
    ) -> None:
        a, b = _stored(store, ALICE, 1.0), _stored(store, JOB, 2.0)
        _stored(store, "vision", 3.0)
        assert sorted(store.scans_listed_under("arn:")) == sorted(
            [(a.scan_id, ALICE), (b.scan_id, JOB)]
        )
        assert store.scans_listed_under("arn:aws:sts:") == [(b.scan_id, JOB)]
        assert store.scans_listed_under("nobody") == []

    def test_a_relisted_scan_is_listed_under_its_new_key_only_and_reads_as_stored(
        self, store: TrialStore
    ) -> None:
        old = _stored(store, ALICE, 1.0)
        new = _stored(store, "vision", 2.0)
        assert store.relist_scan(old.scan_id, listed_as=ALICE, list_as="vision")
        assert [s.scan_id for s in store.list_scans("vision")] == [new.scan_id, old.scan_id]
        assert store.list_scans(ALICE) == []
        assert store.get_scan(old.scan_id) == old  # the owner stays the ARN
        assert store.scans_listed_under("arn:") == []
        running = store.list_scans("vision", status=ScanStatus.RUNNING, tag=("team", "vision"))
        assert [s.scan_id for s in running] == [new.scan_id, old.scan_id]

    def test_relisting_is_compare_and_set(self, store: TrialStore) -> None:
        old = _stored(store, ALICE, 1.0)
        assert store.relist_scan(old.scan_id, listed_as=ALICE, list_as="vision")
        assert not store.relist_scan(old.scan_id, listed_as=ALICE, list_as="audio")  # moved
        assert [s.scan_id for s in store.list_scans("vision")] == [old.scan_id]
        assert not store.relist_scan("scnope000000", listed_as=ALICE, list_as="vision")
        assert store.list_scans("vision") == [old]  # no scan made for an unknown id
        store.delete_scan(old.scan_id)
        assert not store.relist_scan(old.scan_id, listed_as="vision", list_as=ALICE)
        assert store.list_scans("vision") == [] and store.list_scans(ALICE) == []
