"""The status-bar tips table names real actions, and every action shows the tip it lists."""

from __future__ import annotations

from cnndesk.gui.actions import ACTIONS, ACTIONS_BY_ID, TIPS


def test_every_tip_belongs_to_an_action_and_reaches_it() -> None:
    assert set(TIPS) <= set(ACTIONS_BY_ID)  # a misspelt id would silently lose its tip
    assert {a.id: a.tip for a in ACTIONS if a.tip} == TIPS
    assert ACTIONS_BY_ID["label.class.3"].tip == (
        "Label the current image (or the selection) with the 3. class and go on"
    )
    assert ACTIONS_BY_ID["file.quit"].tip == ""
