"""napari dock widgets: thin magicgui/Qt wiring over the pure core and ``field_editing``."""
