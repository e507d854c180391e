"""The napari side: widgets, reader/writer, sample data and field editing.

Only the widgets need napari.
"""
