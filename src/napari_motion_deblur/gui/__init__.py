"""The napari side: widgets, reader/writer, sample data and field editing (needs napari only in widgets)."""
