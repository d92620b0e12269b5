"""The point cloud as a mesh of vertices, shown as points by a Geometry Nodes modifier.

The mesh keeps the data (`position`, a scene-linear `Color` from the photos' sRGB,
`confidence`, `image_index`); the modifier turns vertices into render points with a live radius and confidence threshold, and
an emission material shows the photo colours unlit, in Cycles and EEVEE alike.
"""
from __future__ import annotations

import bpy
import numpy as np

COLOR = "Color"
CONFIDENCE = "confidence"
IMAGE_INDEX = "image_index"
MODIFIER = "DUSt3R Points"
# Modifier inputs, in order (name, socket type, default); their identifiers come from the tree.
INPUTS = (("Radius", "NodeSocketFloat", 0.01), ("Min Confidence", "NodeSocketFloat", 0.0),
          ("Material", "NodeSocketMaterial", None))
# Blender 5.2 replaced the modifier's ID properties (`modifier["Socket_1"]`) with a typed
# interface (`modifier.properties.inputs.Socket_1.value`).
TYPED_MODIFIER_INPUTS = bpy.app.version >= (5, 2, 0)


def points_mesh(name: str, xyz: np.ndarray, rgb_srgb: np.ndarray, confidence: np.ndarray,
                image_index: np.ndarray) -> bpy.types.Mesh:
    """A vertex-only mesh with the cloud's attributes (numpy bulk writes, no Python loops)."""
    mesh = bpy.data.meshes.new(name)
    n = len(xyz)
    mesh.vertices.add(n)
    mesh.attributes["position"].data.foreach_set(
        "vector", np.ascontiguousarray(xyz, np.float32).ravel())
    rgba = np.ones((n, 4), np.float32)
    rgba[:, :3] = rgb_srgb
    mesh.color_attributes.new(COLOR, "FLOAT_COLOR", "POINT")
    mesh.attributes.new(CONFIDENCE, "FLOAT", "POINT")
    mesh.attributes.new(IMAGE_INDEX, "INT", "POINT")
    # Re-fetch by name: a reference dangles once another attribute is added (segfault).
    # Blender decodes sRGB to its scene-linear storage itself (C, ~10x faster than numpy).
    mesh.attributes[COLOR].data.foreach_set("color_srgb", rgba.ravel())
    mesh.attributes[CONFIDENCE].data.foreach_set("value", np.asarray(confidence, np.float32))
    mesh.attributes[IMAGE_INDEX].data.foreach_set("value", np.asarray(image_index, np.int32))
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
    """Mesh to Points of the vertices whose confidence reaches the threshold, with a material."""
    ng = bpy.data.node_groups.new(name, "GeometryNodeTree")
    ng.is_modifier = True
    ng.interface.new_socket(name="Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    for socket_name, socket_type, default in INPUTS:
        socket = ng.interface.new_socket(name=socket_name, in_out="INPUT", socket_type=socket_type)
        if default is not None:
            socket.default_value = default
            socket.min_value = 0.0
    ng.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")

    nodes, links = ng.nodes, ng.links
    group_in, group_out = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    conf = nodes.new("GeometryNodeInputNamedAttribute")
    conf.data_type = "FLOAT"
    conf.inputs["Name"].default_value = CONFIDENCE
    compare = nodes.new("FunctionNodeCompare")
    compare.data_type, compare.operation = "FLOAT", "GREATER_EQUAL"
    to_points = nodes.new("GeometryNodeMeshToPoints")
    to_points.mode = "VERTICES"
    set_material = nodes.new("GeometryNodeSetMaterial")
    links.new(conf.outputs["Attribute"], compare.inputs[0])  # A
    links.new(group_in.outputs["Min Confidence"], compare.inputs[1])  # B
    links.new(group_in.outputs["Geometry"], to_points.inputs["Mesh"])
    links.new(compare.outputs["Result"], to_points.inputs["Selection"])
    links.new(group_in.outputs["Radius"], to_points.inputs["Radius"])
    links.new(to_points.outputs["Points"], set_material.inputs["Geometry"])
    links.new(group_in.outputs["Material"], set_material.inputs["Material"])
    links.new(set_material.outputs["Geometry"], group_out.inputs["Geometry"])
    for x, node in enumerate((group_in, conf, compare, to_points, set_material, group_out)):
        node.location = (x * 220 - 600, 0)
    return ng


def add_points_modifier(obj: bpy.types.Object, node_group: bpy.types.NodeTree,
                        material: bpy.types.Material, radius: float,
                        min_confidence: float) -> bpy.types.Modifier:
    modifier = obj.modifiers.new(MODIFIER, "NODES")
    modifier.node_group = node_group
    for name, value in (("Radius", float(radius)), ("Min Confidence", float(min_confidence)),
                        ("Material", material)):
        _set_input(modifier, name, value)
    return modifier


def set_points_input(obj: bpy.types.Object, name: str, value) -> None:
    """Change a live input ("Radius", "Min Confidence") of an imported cloud."""
    _set_input(obj.modifiers[MODIFIER], name, value)
    obj.update_tag()


def points_input(obj: bpy.types.Object, name: str, default=None):
    """A live input ("Radius", "Min Confidence") of an imported cloud; `default` when the
    object has no DUSt3R Points modifier (any more)."""
    modifier = obj.modifiers.get(MODIFIER)
    if modifier is None or modifier.node_group is None:
        return default
    identifier = _input_identifiers(modifier.node_group).get(name)
    if identifier is None:
        return default
    if not TYPED_MODIFIER_INPUTS:
        return modifier.get(identifier, default)
    socket = getattr(modifier.properties.inputs, identifier, None)
    return default if socket is None else socket.value


def _set_input(modifier: bpy.types.Modifier, name: str, value) -> None:
    identifier = _input_identifiers(modifier.node_group)[name]
    if TYPED_MODIFIER_INPUTS:
        getattr(modifier.properties.inputs, identifier).value = value
    else:
        modifier[identifier] = value


def _input_identifiers(node_group: bpy.types.NodeTree) -> dict[str, str]:
    """Modifier inputs are keyed by socket identifier ("Socket_2"), not by their names."""
    return {item.name: item.identifier for item in node_group.interface.items_tree
            if getattr(item, "in_out", None) == "INPUT"}
