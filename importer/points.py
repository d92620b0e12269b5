"""The point cloud as a mesh of vertices, shown by a Geometry Nodes modifier.

The mesh keeps the data (`position`, a scene-linear `Color` from the photos' sRGB,
`confidence`, `image_index`, `view_direction`); the modifier shows the vertices above a live
confidence threshold as render points of a live radius, and in the viewport as small squares
that Solid shading can colour; an emission material shows the photo colours unlit, in Cycles
and EEVEE alike.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import bpy
import numpy as np

from ..core.schema import (COLOR, CONFIDENCE, POINT_IMAGE_INDEX, POINTS_MODIFIER,
                           VIEW_DIRECTION, set_modifier_input, write_attribute)

if TYPE_CHECKING:
    from ..core.plan import PointsPlan

# Modifier inputs, in order (name, socket type, default); their identifiers come from the tree.
INPUTS = (("Radius", "NodeSocketFloat", 0.01), ("Min Confidence", "NodeSocketFloat", 0.0),
          ("Material", "NodeSocketMaterial", None),
          # A random subset in the viewport (about 220 bytes a point there); renders show all
          ("Viewport Points", "NodeSocketInt", 2_000_000))
# Two perpendicular unit axes: a square's first side is across the view direction and one
# of them (the second where the direction is within ~17 degrees of the first).
SQUARE_AXES = ((0.36, 0.48, 0.8), (0.8 / 0.8854, 0.0, -0.36 / 0.8854))


def points_mesh(plan: "PointsPlan") -> bpy.types.Mesh:
    """A vertex-only mesh with the cloud's attributes (numpy bulk writes, no Python loops)."""
    mesh = bpy.data.meshes.new(plan.name)
    n = len(plan.xyz)
    mesh.vertices.add(n)
    rgba = np.ones((n, 4), np.float32)
    rgba[:, :3] = plan.rgb
    write_attribute(mesh, "position", plan.xyz, "FLOAT_VECTOR")
    # Blender decodes sRGB to its scene-linear storage itself (C, ~10x faster than numpy).
    write_attribute(mesh, COLOR, rgba, "FLOAT_COLOR")
    write_attribute(mesh, CONFIDENCE, plan.confidence, "FLOAT")
    write_attribute(mesh, POINT_IMAGE_INDEX, plan.image_index, "INT")
    write_attribute(mesh, VIEW_DIRECTION, plan.view_direction, "FLOAT_VECTOR")
    mesh.color_attributes.active_color_name = COLOR
    mesh.color_attributes.render_color_index = mesh.color_attributes.active_color_index
    mesh.update()
    deselect_all(mesh)
    return mesh


def deselect_all(mesh: bpy.types.Mesh) -> None:
    """Nothing selected: `vertices.add` selects what it adds, and Set Floor takes an empty
    selection for "the cloud's dominant plane" (the selection attributes go: 1 byte a vertex
    less)."""
    for name in (".select_vert", ".select_edge", ".select_poly"):
        attribute = mesh.attributes.get(name)
        if attribute is not None:
            mesh.attributes.remove(attribute)


def points_material(name: str) -> bpy.types.Material:
    """Unlit photo colours: the point's `Color` attribute into an Emission shader."""
    mat, emission = unlit_material(name)
    colour_attribute_into(mat, emission)
    mat.diffuse_color = (0.8, 0.8, 0.8, 1.0)
    return mat


def unlit_material(name: str) -> tuple[bpy.types.Material, bpy.types.Node]:
    """A material whose surface is an Emission shader of strength 1 (shows its colour
    unlit in Cycles and EEVEE), and that Emission node, for its colour input."""
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True  # 5.0 always has a tree (and deprecates the flag)
    nodes = mat.node_tree.nodes
    nodes.clear()
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 1.0
    output = nodes.new("ShaderNodeOutputMaterial")
    mat.node_tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    emission.location, output.location = (-150, 0), (100, 0)
    return mat, emission


def colour_attribute_into(mat: bpy.types.Material, emission: bpy.types.Node) -> None:
    """The mesh's `Color` attribute as the Emission node's colour."""
    attribute = mat.node_tree.nodes.new("ShaderNodeAttribute")
    attribute.attribute_type = "GEOMETRY"
    attribute.attribute_name = COLOR
    mat.node_tree.links.new(attribute.outputs["Color"], emission.inputs["Color"])
    attribute.location = (-400, 0)


def points_node_group(name: str) -> bpy.types.NodeTree:
    """The vertices whose confidence reaches the threshold: render points of the radius, and
    in the viewport a small square of the point's diameter each, facing the camera that saw
    the point.

    Workbench (Solid shading) draws point clouds in their material's single viewport colour;
    a mesh derived from the points mesh keeps its active `Color` attribute, which Solid
    shading shows with colour type Attribute. Renders get true points (spheres in Cycles)."""
    ng = bpy.data.node_groups.new(name, "GeometryNodeTree")
    ng.is_modifier = True
    ng.interface.new_socket(name="Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    for socket_name, socket_type, default in INPUTS:
        socket = ng.interface.new_socket(name=socket_name, in_out="INPUT", socket_type=socket_type)
        if default is not None:
            socket.default_value = default
            socket.min_value = 0
    ng.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    tree = _Tree(ng)
    group_in = tree.node("NodeGroupInput")
    geometry, radius = group_in.outputs["Geometry"], group_in.outputs["Radius"]

    confidence = tree.node("GeometryNodeInputNamedAttribute", data_type="FLOAT",
                           Name=CONFIDENCE).outputs["Attribute"]
    shown = tree.node("FunctionNodeCompare", data_type="FLOAT", operation="GREATER_EQUAL",
                      inputs=(confidence, group_in.outputs["Min Confidence"])).outputs["Result"]
    points = tree.node("GeometryNodeMeshToPoints", mode="VERTICES", Mesh=geometry,
                       Selection=shown, Radius=radius).outputs["Points"]

    # The viewport: a random share of the shown points, at most "Viewport Points" of them.
    count = tree.node("GeometryNodeAttributeDomainSize", component="MESH",
                      Geometry=geometry).outputs["Point Count"]
    share = tree.node("ShaderNodeMath", operation="DIVIDE", use_clamp=True,
                      inputs=(group_in.outputs["Viewport Points"], count)).outputs[0]
    sampled = tree.output(tree.node("FunctionNodeRandomValue", data_type="BOOLEAN",
                                    Probability=share))
    kept = tree.node("FunctionNodeBooleanMath", operation="AND",
                     inputs=(shown, sampled)).outputs[0]
    dropped = tree.node("FunctionNodeBooleanMath", operation="NOT", inputs=(kept,)).outputs[0]
    mesh = tree.node("GeometryNodeDeleteGeometry", domain="POINT", Geometry=geometry,
                     Selection=dropped).outputs[0]
    diameter = tree.node("ShaderNodeMath", operation="MULTIPLY",
                         inputs=(radius, 2.0)).outputs[0]
    # A square across the direction to the camera: one side across it and a fixed axis (or a
    # second axis where the direction is nearly that one), the other across it and the first.
    facing = tree.node("GeometryNodeInputNamedAttribute", data_type="FLOAT_VECTOR",
                       Name=VIEW_DIRECTION).outputs["Attribute"]
    across = [tree.node("ShaderNodeVectorMath", operation="CROSS_PRODUCT",
                        inputs=(facing, axis)).outputs[0] for axis in SQUARE_AXES]
    length = tree.node("ShaderNodeVectorMath", operation="LENGTH", inputs=(across[0],))
    degenerate = tree.node("FunctionNodeCompare", data_type="FLOAT", operation="LESS_THAN",
                           inputs=(length.outputs["Value"], 0.3)).outputs["Result"]
    first = tree.node("GeometryNodeSwitch", input_type="VECTOR",
                      inputs=(degenerate, *across)).outputs[0]
    side = tree.scaled(tree.node("ShaderNodeVectorMath", operation="NORMALIZE",
                                 inputs=(first,)).outputs[0], diameter)
    edges = tree.node("GeometryNodeExtrudeMesh", mode="VERTICES", Mesh=mesh,
                      Offset=side).outputs["Mesh"]  # an edge from every point
    ends = tree.node("GeometryNodeInputMeshEdgeVertices")
    along = tree.node("ShaderNodeVectorMath", operation="SUBTRACT",
                      inputs=(ends.outputs["Position 2"], ends.outputs["Position 1"])).outputs[0]
    second = tree.node("ShaderNodeVectorMath", operation="CROSS_PRODUCT",
                       inputs=(facing, along)).outputs[0]
    other_side = tree.scaled(tree.node("ShaderNodeVectorMath", operation="NORMALIZE",
                                       inputs=(second,)).outputs[0], diameter)
    squares = tree.node("GeometryNodeExtrudeMesh", mode="EDGES", Mesh=edges,
                        Offset=other_side).outputs["Mesh"]  # each edge swept into a square

    viewport = tree.node("GeometryNodeIsViewport").outputs[0]
    chosen = tree.node("GeometryNodeSwitch", input_type="GEOMETRY",
                       inputs=(viewport, points, squares)).outputs[0]
    coloured = tree.node("GeometryNodeSetMaterial", Geometry=chosen,
                         Material=group_in.outputs["Material"]).outputs["Geometry"]
    tree.node("NodeGroupOutput", inputs=(coloured,))
    return ng


class _Tree:
    """Terse node building: `node(type, prop=..., Socket=link-or-value, inputs=(...))`;
    nodes are laid out left to right in the order they are made."""

    def __init__(self, node_group: bpy.types.NodeTree) -> None:
        self.nodes, self.links = node_group.nodes, node_group.links

    def node(self, kind: str, inputs: tuple = (), **settings) -> bpy.types.Node:
        node = self.nodes.new(kind)
        node.location = (len(self.nodes) * 180 - 1200, 0)
        for key, value in settings.items():
            if key[0].isupper():  # an input socket by name
                self._connect(node.inputs[key], value)
            else:
                setattr(node, key, value)
        for socket, value in zip(node.inputs, inputs) if inputs else ():
            self._connect(socket, value)
        return node

    @staticmethod
    def output(node: bpy.types.Node) -> bpy.types.NodeSocket:
        """The node's output for its data type (4.x keeps one per type, the others hidden)."""
        return next(socket for socket in node.outputs if socket.enabled)

    def scaled(self, vector: bpy.types.NodeSocket, factor: bpy.types.NodeSocket
               ) -> bpy.types.NodeSocket:
        return self.node("ShaderNodeVectorMath", operation="SCALE", Vector=vector,
                         Scale=factor).outputs[0]

    def _connect(self, socket: bpy.types.NodeSocket, value) -> None:
        if isinstance(value, bpy.types.NodeSocket):
            self.links.new(value, socket)
        else:
            socket.default_value = value


def show_colours_in_solid_shading() -> None:
    """Solid shading's default colour type (Material) draws the points grey; colour type
    Attribute shows the `Color` of the points and the depth meshes. Set in every 3D View of
    the file that is at the default (another colour type is the user's choice and stays)."""
    for screen in bpy.data.screens:
        for area in screen.areas:
            for space in area.spaces:
                if space.type == "VIEW_3D" and space.shading.color_type == "MATERIAL":
                    space.shading.color_type = "VERTEX"  # "Attribute" in the UI


def add_points_modifier(obj: bpy.types.Object, node_group: bpy.types.NodeTree,
                        material: bpy.types.Material, radius: float,
                        min_confidence: float) -> bpy.types.Modifier:
    modifier = obj.modifiers.new(POINTS_MODIFIER, "NODES")
    modifier.node_group = node_group
    for name, value in (("Radius", float(radius)), ("Min Confidence", float(min_confidence)),
                        ("Material", material)):
        set_modifier_input(modifier, name, value)
    return modifier
