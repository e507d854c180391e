"""The demo viewer: sample data plus the three widgets docked (``demo --gui``)."""

from __future__ import annotations

import pytest

from napari_motion_deblur.gui.widgets.launch import WIDGETS, setup_demo_viewer

pytestmark = pytest.mark.gui


def test_demo_viewer_docks_three_widgets_on_the_sample(make_napari_viewer):
    viewer = make_napari_viewer()
    widgets = setup_demo_viewer(viewer, "photograph")
    assert list(widgets) == list(WIDGETS)
    assert widgets["Deblur"].image.value.name == "Photograph (blurred)"
    assert widgets["Deblur"].motion_layer.value.name == "Photograph TRUE motion (ground truth)"
    assert len(viewer.layers) == 3
