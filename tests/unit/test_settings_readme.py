"""The README's configuration table is the one the settings' declarations give."""
from pathlib import Path

from core.declarations import markdown, replace_table, tables
from core.settings import README_HEADING, SETTINGS, readme_table

README = Path(__file__).resolve().parents[2] / "README.md"


def section_tables(text: str) -> list[list[str]]:
    lines = text.splitlines()
    return [lines[start:end] for start, end in tables(text, README_HEADING)]


def test_the_readme_configuration_table_matches_the_declarations():
    found = section_tables(README.read_text())[0]
    assert found == readme_table(), (
        "README.md's configuration table differs from core/settings.py's SETTINGS; "
        "regenerate it with `python -m core.settings --update README.md`")


def test_the_readme_autoscaler_table_has_the_settings_core_reads_for_it():
    rows = markdown(SETTINGS, table="autoscaler")[2:]
    found = [line for table in section_tables(README.read_text())[1:] for line in table]
    assert rows and set(rows) <= set(found), (
        "README.md's autoscaler table differs from core/settings.py's SETTINGS; "
        f"its rows should read:\n" + "\n".join(rows))


def test_every_setting_is_in_the_table_once():
    variables = " ".join(row.split(" | ")[0] for row in readme_table()[2:])
    assert [s.env for s in SETTINGS if s.table == "main" and variables.count(f"`{s.env}`") != 1] \
        == []


def test_the_update_replaces_only_the_first_table():
    text = "# T\n\n## Configuration\n\nIntro.\n\n| a |\n|---|\n| old |\n\nMore.\n\n| b |\n\n## Next\n"
    updated = replace_table(text, README_HEADING, ["| a |", "|---|", "| new |"])
    assert updated == text.replace("| old |", "| new |")
