"""The Blender API differences the demo meets between 4.2 LTS and 5.3, one helper each.

* Output format: 5.0 splits `ImageFormatSettings` into `media_type` and `file_format`; the
  `file_format` values depend on the media type. 4.x has `file_format` alone.
* Compositor: 4.x has `scene.use_nodes` + `scene.node_tree` with a Composite node; 5.0 removed
  both for `scene.compositing_node_group`, a node group whose Group Output is the result;
  5.3 deprecates that for a stack of `scene.compositor_effects`, each with its node group.
* Render log: 4.x Cycles prints 40-80 "Fra:" lines per frame to stdout, 5.0 one line.

The depth (and the object index) comes out through the compositor as a single-layer float
EXR that Blender itself reads back, which works the same on every version (4.2 has no bundled
OpenImageIO module). The object index socket of the Render Layers node is "IndexOB" in 4.x and
"Object Index" in 5.0.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

import bpy
import numpy as np

BLENDER_5 = bpy.app.version >= (5, 0, 0)
# 5.3 stacks compositor effects per scene (`scene.compositing_node_group` is deprecated)
COMPOSITOR_EFFECTS = "compositor_effects" in bpy.types.Scene.bl_rna.properties


def set_file_format(settings: bpy.types.ImageFormatSettings, file_format: str,
                    **options) -> None:
    """A plain single-image `file_format` ("PNG", "OPEN_EXR") and its options."""
    if BLENDER_5:
        settings.media_type = "IMAGE"  # before file_format: it selects the valid formats
    settings.file_format = file_format
    for key, value in options.items():
        setattr(settings, key, value)


def render_still() -> None:
    """Render the scene camera's frame to `scene.render.filepath`, without Blender's render log
    on stdout (errors still raise)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        bpy.ops.render.render(write_still=True)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


# Render passes `pass_as_output` can route: the view layer's switch and the Render Layers
# socket, whose name changed for the object index (4.x "IndexOB", 5.0 "Object Index").
PASSES = {"depth": ("use_pass_z", ("Depth",)),
          "object_index": ("use_pass_object_index", ("Object Index", "IndexOB"))}


def depth_as_output(scene: bpy.types.Scene):
    """Inside, a render's output image is the Z pass of the first view layer (grey RGB)."""
    return pass_as_output(scene, "depth")


@contextlib.contextmanager
def pass_as_output(scene: bpy.types.Scene, name: str) -> Iterator[None]:
    """Inside, a render's output image is the pass `name` of `PASSES` of the first view
    layer (grey RGB): "depth" (z-depth) or "object_index" (each pixel's object pass index)."""
    switch, sockets = PASSES[name]
    setattr(scene.view_layers[0], switch, True)
    with compositor_output(scene, f"{name} output") as (tree, output):
        layers = tree.nodes.new("CompositorNodeRLayers")
        layers.layer = scene.view_layers[0].name
        socket = next(layers.outputs[s] for s in sockets if s in layers.outputs)
        tree.links.new(socket, output)
        yield


@contextlib.contextmanager
def compositor_output(scene: bpy.types.Scene, name: str = "output"
                      ) -> Iterator[tuple[bpy.types.NodeTree, bpy.types.NodeSocket]]:
    """Inside, a render's output image is what the caller links into the yielded socket of
    the yielded compositor tree (4.x: the Composite node; 5.0: a node group's output)."""
    use_compositing, scene.render.use_compositing = scene.render.use_compositing, True
    if COMPOSITOR_EFFECTS:
        effects = scene.compositor_effects
        previous = [(effect, effect.enable_for_render) for effect in effects]
        for effect, _ in previous:
            effect.enable_for_render = False
        tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        output = tree.nodes.new("NodeGroupOutput")
        ours = effects.new(name=name)
        ours.node_group = tree
    elif BLENDER_5:
        previous = scene.compositing_node_group
        tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        output = tree.nodes.new("NodeGroupOutput")
        scene.compositing_node_group = tree
    else:
        previous = scene.use_nodes
        scene.use_nodes = True
        tree = scene.node_tree
        tree.nodes.clear()
        output = tree.nodes.new("CompositorNodeComposite")
    try:
        yield tree, output.inputs[0]
    finally:
        scene.render.use_compositing = use_compositing
        if COMPOSITOR_EFFECTS:
            scene.compositor_effects.remove(ours)
            for effect, enabled in previous:
                effect.enable_for_render = enabled
            bpy.data.node_groups.remove(tree)
        elif BLENDER_5:
            scene.compositing_node_group = previous
            bpy.data.node_groups.remove(tree)
        else:
            tree.nodes.clear()
            scene.use_nodes = previous


def read_float_image(path: Path) -> np.ndarray:
    """The first channel of a float image file as [H, W] float32, rows top to bottom, with
    no colour conversion (Blender's own reader: no OpenImageIO module needed)."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        image.colorspace_settings.name = "Non-Color"
        width, height = image.size
        pixels = np.empty(width * height * image.channels, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return pixels.reshape(height, width, -1)[::-1, :, 0].copy()  # Blender: bottom row first
