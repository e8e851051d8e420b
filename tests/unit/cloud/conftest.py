from tests.unit.cloud.lanes_fixtures import world

__all__ = ["world"]
