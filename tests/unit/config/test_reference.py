from pathlib import Path

from scanfleet.config._reference import render_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"


def test_the_config_reference_is_generated_from_the_schema() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/config.md drifted: run `python -m scanfleet.config._reference > docs/config.md`"
    )
