"""Open napari with a sample and the plugin's three widgets docked (``demo --gui``)."""

from __future__ import annotations

PLUGIN = "napari-motion-deblur"
WIDGETS = ("Estimate motion", "Edit motion field", "Deblur")


def setup_demo_viewer(viewer, sample: str = "photograph") -> dict:
    """Load ``sample`` into ``viewer`` and dock the three widgets; return them by name.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        An open viewer.
    sample : {"photograph", "microscopy"}
        The sample data key.

    Returns
    -------
    dict
        Widget display name -> widget instance.
    """
    viewer.open_sample(PLUGIN, sample)
    widgets = {}
    for name in WIDGETS:
        _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=True)
        widgets[name] = widget
    deblur = widgets["Deblur"]
    blurred = [ly for ly in viewer.layers if ly.name.endswith("(blurred)")]
    if blurred:
        deblur.image.value = blurred[0]
        widgets["Estimate motion"].image.value = blurred[0]
    return widgets


def launch_demo_viewer(sample: str = "photograph", *, block: bool = True):
    """Open a napari viewer with ``sample`` loaded and the three widgets docked.

    Parameters
    ----------
    sample : {"photograph", "microscopy"}
        The sample data key.
    block : bool
        Run the Qt event loop until the window closes (``napari.run()``).

    Returns
    -------
    napari.viewer.Viewer
        The viewer (after it was closed, when ``block`` is true).
    """
    import napari

    viewer = napari.Viewer(title="napari-motion-deblur demo")
    setup_demo_viewer(viewer, sample)
    if block:
        napari.run()
    return viewer
