"""Preview regions: the part of an image layer in view (or inside a drawn shape), with margins.

Boxes are ``(row0, row1, col0, col1)`` in the data pixels of a layer's last two axes, end
exclusive. Touches napari models (camera, canvas, layers) but not Qt.
"""

from __future__ import annotations

import numpy as np

from ...motion import MotionField
from ._common import find_layer, unwrap, widen_contrast

#: Longest side of a preview region (px): larger views are cut around their centre.
PREVIEW_SIDE = 256
#: Pixels around the region that are deblurred too and then cut off: the longest kernel's
#: half-length plus the boundary band IRC-Net extends the domain by.
PREVIEW_MARGIN = 48


def _clip(box, shape) -> tuple[int, int, int, int]:
    r0, r1, c0, c1 = (int(round(v)) for v in box)
    r0, c0 = max(r0, 0), max(c0, 0)
    r1, c1 = min(r1, shape[0]), min(c1, shape[1])
    if r1 - r0 < 1 or c1 - c0 < 1:
        raise ValueError("the preview region lies outside the image")
    return r0, r1, c0, c1


def _world_box_to_data(layer, corners) -> tuple[float, float, float, float]:
    """Data-pixel bounding box of world-coordinate corners (rows, cols) of ``layer``."""
    scale = np.asarray(layer.scale[-2:], float)
    translate = np.asarray(layer.translate[-2:], float)
    data = (np.asarray(corners, float) - translate) / scale
    lo, hi = data.min(axis=0), data.max(axis=0)
    return lo[0], hi[0] + 1, lo[1], hi[1] + 1


def view_box(viewer, layer) -> tuple[int, int, int, int]:
    """The part of ``layer``'s plane shown on the canvas, in its data pixels."""
    zoom = float(viewer.scene.camera.zoom)
    centre = np.asarray(viewer.scene.camera.center, float)[-2:]
    half = np.asarray(viewer.canvas.size, float)[:2] / (2 * zoom)
    corners = [centre - half, centre + half]
    return _clip(_world_box_to_data(layer, corners), plane_shape(layer))


def shapes_box(shapes, layer) -> tuple[int, int, int, int]:
    """Bounding box, in ``layer``'s data pixels, of the shapes of a Shapes layer."""
    if len(shapes.data) == 0:
        raise ValueError(f"the Shapes layer {shapes.name!r} has no shape")
    points = np.concatenate([np.asarray(s)[:, -2:] for s in shapes.data])
    world = points * np.asarray(shapes.scale[-2:]) + np.asarray(shapes.translate[-2:])
    return _clip(_world_box_to_data(layer, world), plane_shape(layer))


def plane_shape(layer) -> tuple[int, int]:
    """(H, W) of an image layer's planes (stack axes and colour channels left out)."""
    return tuple(layer.data.shape[layer.ndim - 2: layer.ndim])


def limit_box(box, side: int = PREVIEW_SIDE) -> tuple[int, int, int, int]:
    """``box`` cut to at most ``side`` x ``side`` pixels around its centre."""
    r0, r1, c0, c1 = box
    if r1 - r0 > side:
        r0 = (r0 + r1 - side) // 2
        r1 = r0 + side
    if c1 - c0 > side:
        c0 = (c0 + c1 - side) // 2
        c1 = c0 + side
    return r0, r1, c0, c1


def with_margin(box, shape, margin: int = PREVIEW_MARGIN):
    """The region grown by ``margin`` (clipped to ``shape``) and the inner box inside it.

    Returns
    -------
    outer : tuple of int
        ``(row0, row1, col0, col1)`` of the padded region in the image.
    inner : tuple of slice
        Where ``box`` lies inside ``outer``.
    """
    r0, r1, c0, c1 = box
    o = (max(r0 - margin, 0), min(r1 + margin, shape[0]),
         max(c0 - margin, 0), min(c1 + margin, shape[1]))
    inner = (slice(r0 - o[0], r1 - o[0]), slice(c0 - o[2], c1 - o[2]))
    return o, inner


def preview_crop(viewer, layer, shapes, planes, motion):
    """Cut a deblur job's first plane (and a motion field) to the preview region plus margin.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Its camera gives the region when ``shapes`` is ``None``.
    layer : napari.layers.Image
        The image being deblurred.
    shapes : napari.layers.Shapes or None
        A layer whose shapes' bounding box is the region.
    planes : tuple
        The job's ``(index, plane)`` pairs; the first is cut.
    motion : MotionField or object
        A field is cut to the same pixels; a uniform motion or a PSF is kept.

    Returns
    -------
    planes : tuple
        One ``(index, cut plane)`` pair.
    motion : object
        The motion for the cut plane.
    preview : tuple
        ``(box, inner)``: the region in the image and where it lies in the cut plane.
    """
    box = limit_box(shapes_box(shapes, layer) if shapes is not None else view_box(viewer, layer))
    index, plane = planes[0]
    outer, inner = with_margin(box, plane.shape[:2])
    rows, cols = slice(outer[0], outer[1]), slice(outer[2], outer[3])
    if isinstance(motion, MotionField):
        motion = MotionField(motion.length[rows, cols], motion.angle[rows, cols])
    return ((index, np.ascontiguousarray(plane[rows, cols])),), motion, (box, inner)


def show_preview(viewer, layer, values: np.ndarray, preview):
    """Show the region of a preview result as the layer "<image> preview", placed over it."""
    box, inner = preview
    data = np.ascontiguousarray(values[inner])
    scale = np.asarray(layer.scale[-2:], float)
    translate = np.asarray(layer.translate[-2:], float) + np.array([box[0], box[2]]) * scale
    name = f"{layer.name} preview"
    shown = find_layer(viewer, name)
    if shown is not None and (type(shown).__name__ != "Image" or shown.rgb != layer.rgb):
        viewer.layers.remove(shown)  # not a preview of this kind of image any more
        shown = None
    if shown is None:
        look = {} if layer.rgb else {"colormap": layer.colormap}
        shown = unwrap(viewer.add_image(data, name=name, rgb=layer.rgb, scale=scale,
                                        translate=translate,
                                        contrast_limits=layer.contrast_limits, **look))
    else:
        shown.data = data
        shown.translate = translate
        shown.visible = True
    widen_contrast(shown, data)
    return shown
