"""Every loader added for issue 20 names the missing root and shows its expected layout."""

from __future__ import annotations

import pytest

import multitask as mt

NEW = ["climate", "computer_survey", "domainnet", "imageclef_da", "newsgroups20", "nyud", "office_caltech",
       "pascal_context", "reuters", "synthia", "taskonomy"]


@pytest.mark.parametrize("name", NEW)
def test_root_none_and_missing_root_show_the_layout(name: str, tmp_path) -> None:
    with pytest.raises(ValueError, match=rf"(?s)^{name}: root=None.*Expected layout:\nroot/"):
        mt.create_dataset(name, root=None)
    missing = tmp_path / "not_here"
    pattern = rf"(?s)^{name}: '{missing}' does not exist\. Expected layout"
    with pytest.raises(FileNotFoundError, match=pattern):
        mt.create_dataset(name, root=str(missing))
