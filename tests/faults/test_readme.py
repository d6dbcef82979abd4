"""The README's "Failure and resume" section exists and says that configs are code."""
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_failure_and_resume_section_says_configs_import_modules():
    section = README.split("### Failure and resume", 1)[1].split("\n#", 1)[0]
    assert "options.json" in section and ".torn" in section
    assert "`class_path` in a config" in section and "imports that module" in section
