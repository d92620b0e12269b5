"""Depth meshes: each photo's depth map as a grid mesh that shows the photo, unlit.

Every number comes from `core.plan.DepthMeshPlan`; this module only writes it into Blender
with bulk numpy writes (a 512 x 384 grid at stride 1 takes about 0.1 s; `from_pydata` took
0.35 s). The material is the upright photo through the mesh's UVs into an Emission shader:
seen through its camera (Standard view transform) the mesh reproduces the photo.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import bpy
import numpy as np

from ..core.schema import COLOR, CONFIDENCE, write_attribute
from . import cameras as cam_builder
from .points import colour_attribute_into, deselect_all, unlit_material

if TYPE_CHECKING:
    from ..core.plan import DepthMeshPlan

UV_MAP = "UVMap"


def depth_mesh(plan: "DepthMeshPlan") -> bpy.types.Mesh:
    """The mesh of `plan`: vertices, quads, the photo UVs and a `confidence` attribute."""
    mesh = bpy.data.meshes.new(plan.name)
    n_faces = len(plan.faces)
    mesh.vertices.add(len(plan.vertices))
    if len(plan.vertices):  # a mesh without vertices has no "position" attribute
        write_attribute(mesh, "position", plan.vertices, "FLOAT_VECTOR")
    corners = np.ascontiguousarray(plan.faces, np.int32).ravel()
    mesh.loops.add(len(corners))
    mesh.loops.foreach_set("vertex_index", corners)
    mesh.polygons.add(n_faces)
    mesh.polygons.foreach_set("loop_start", np.arange(0, len(corners), 4, dtype=np.int32))
    mesh.uv_layers.new(name=UV_MAP)
    mesh.uv_layers[UV_MAP].data.foreach_set(
        "uv", np.ascontiguousarray(plan.uv[corners], np.float32).ravel())
    write_attribute(mesh, CONFIDENCE, plan.confidence, "FLOAT")
    # The network image's colours: what Solid shading shows (colour type Attribute), and
    # what renders show of a mesh whose photo is gone.
    rgba = np.ones((len(plan.vertices), 4), np.float32)
    rgba[:, :3] = plan.rgb
    write_attribute(mesh, COLOR, rgba, "BYTE_COLOR")
    mesh.color_attributes.active_color_name = COLOR
    mesh.color_attributes.render_color_index = mesh.color_attributes.active_color_index
    mesh.update(calc_edges=True)
    deselect_all(mesh)
    return mesh


def photo_material(name: str, image: Optional[bpy.types.Image]) -> bpy.types.Material:
    """Unlit photo: `image` through the UV map into an Emission shader of strength 1 (without
    an image, the `Color` attribute)."""
    mat, emission = unlit_material(name)
    if image is None:
        colour_attribute_into(mat, emission)
        return mat
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    uv = nodes.new("ShaderNodeUVMap")
    uv.uv_map = UV_MAP
    texture = nodes.new("ShaderNodeTexImage")
    texture.image = image
    texture.interpolation = "Linear"
    texture.extension = "EXTEND"  # the outer half pixel repeats the photo's edge
    links.new(uv.outputs["UV"], texture.inputs["Vector"])
    links.new(texture.outputs["Color"], emission.inputs["Color"])
    uv.location, texture.location = (-650, 0), (-450, 0)
    return mat


def depth_mesh_object(plan: "DepthMeshPlan",
                      image: Optional[bpy.types.Image]) -> bpy.types.Object:
    """An object (identity transform: the vertices are in Blender's world) with its mesh
    and photo material."""
    mesh = depth_mesh(plan)
    mesh.materials.append(photo_material(plan.name, image))
    obj = bpy.data.objects.new(plan.name, mesh)
    for key, value in plan.properties.items():
        obj[key] = value
    return obj


def add_depth_meshes(plans: "tuple[DepthMeshPlan, ...]", collection: bpy.types.Collection,
                     photos: dict[int, bpy.types.Image]) -> tuple:
    """The depth mesh objects of `plans`, linked into `collection`. `photos` holds the
    photo images already made by this import, by image index; photos it lacks are loaded
    (`upright_photo`) and added to it, so each photo exists once per import."""
    objects = []
    for plan in plans:
        image = None
        if plan.textured:
            if plan.image_index not in photos:
                photos[plan.image_index] = cam_builder.upright_photo(plan.photo)
            image = photos[plan.image_index]
        obj = depth_mesh_object(plan, image)
        collection.objects.link(obj)
        objects.append(obj)
    return tuple(objects)
