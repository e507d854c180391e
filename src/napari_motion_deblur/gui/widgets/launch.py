"""Open napari with a sample and the plugin's three widgets docked (``demo --gui``)."""

from __future__ import annotations

PLUGIN = "napari-motion-deblur"
WIDGETS = ("Estimate motion", "Edit motion field", "Deblur")
#: Short dock titles, so that the tabified docks' tabs are not cut off.
TAB_TITLES = {"Estimate motion": "Estimate", "Edit motion field": "Edit", "Deblur": "Deblur"}
#: How to get the GUI (napari and a Qt binding come with the ``all`` extra).
GUI_INSTALL_HINT = ('Install napari with the plugin\'s "all" extra: '
                    'pip install "napari-motion-deblur[all]" (in a source checkout: '
                    'pip install -e ".[all]").')


class GuiUnavailableError(ImportError):
    """napari or a Qt binding is missing; the message says how to install them."""


def import_napari():
    """Import napari (and check for a Qt binding), or raise :class:`GuiUnavailableError`."""
    try:
        import napari
        from qtpy import QtCore  # noqa: F401  (raises without a Qt binding)
    except ImportError as err:
        raise GuiUnavailableError(f"the GUI needs napari and a Qt binding ({err}). "
                                  f"{GUI_INSTALL_HINT}") from err
    return napari


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
        dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=True)
        dock.setWindowTitle(TAB_TITLES[name])  # the tab shows this, not "<name> (<plugin>)"
        widgets[name] = widget
    _show_full_tab_names(viewer)
    deblur = widgets["Deblur"]
    blurred = [ly for ly in viewer.layers if ly.name.endswith("(blurred)")]
    if blurred:
        deblur.image.value = blurred[0]
        widgets["Estimate motion"].image.value = blurred[0]
    return widgets


def _show_full_tab_names(viewer) -> None:
    """Never elide the dock tabs' titles (Qt cuts them off to fit by default)."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QTabBar

    for bar in viewer.window._qt_window.findChildren(QTabBar):
        bar.setElideMode(Qt.TextElideMode.ElideNone)
        bar.setExpanding(False)


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
    napari = import_napari()
    viewer = napari.Viewer(title="napari-motion-deblur demo")
    setup_demo_viewer(viewer, sample)
    if block:
        napari.run()
    return viewer
