"""What an import writes into a Blender file and the tools read back: one place for it.

* Custom properties (`dust3r_*`) on the objects an import makes: a documented contract with
  users' scripts, so the names stay as they are. The plans of `core.plan` carry them, the
  importer writes them, the tools (`tool/`) read them.
* The objects' roles: a photo's camera, a plate's camera, the point cloud, a depth mesh, the
  reconstruction's origin (the Empty everything hangs from).
* The point cloud's attributes and its Geometry Nodes modifier, with numpy <-> attribute
  accessors (bulk `foreach_get` / `foreach_set`, in the spirit of MolecularNodes'
  `named_attribute`) and the modifier's live inputs.

Duck-typed on Blender's objects (it never imports bpy), so `core.plan` uses the same names.
"""
from __future__ import annotations

import numpy as np

PREFIX = "dust3r_"

# A photo's camera: its photo's size and OpenCV intrinsics (render resolution is per scene,
# so they travel with the camera), the photo, and the run's masks for File > Export.
WIDTH, HEIGHT = PREFIX + "width", PREFIX + "height"
FX, FY, CX, CY = PREFIX + "fx", PREFIX + "fy", PREFIX + "cx", PREFIX + "cy"
PIXEL_ASPECT_X, PIXEL_ASPECT_Y = PREFIX + "pixel_aspect_x", PREFIX + "pixel_aspect_y"
SOURCE = PREFIX + "source"  # the photo (a plate's camera: the plate)
EXIF_ORIENTATION = PREFIX + "exif_orientation"
IMAGE_INDEX = PREFIX + "image_index"  # the photo's index in the run (depth meshes too)
MASK_FOLDER, MASK_ALPHA, MASK_INVERT = (PREFIX + "mask_folder", PREFIX + "mask_alpha",
                                        PREFIX + "mask_invert")
# A plate's camera: the plate's kind and keyframes; the per-frame confidence is animated.
PLATE_KIND, KEYFRAMES = PREFIX + "plate_kind", PREFIX + "keyframes"
FRAME_CONFIDENCE = PREFIX + "confidence"
DEPTH_STRIDE = PREFIX + "depth_stride"  # a depth mesh
ORIGIN = PREFIX + "origin"  # the Empty every object of one reconstruction hangs from

# The point cloud: a mesh of one vertex per point with these attributes, shown by a
# Geometry Nodes modifier.
COLOR = "Color"  # colour attribute (the photos' sRGB, stored scene-linear); depth meshes too
CONFIDENCE = "confidence"  # raw network confidence (depth meshes too)
POINT_IMAGE_INDEX = "image_index"  # the photo each point comes from
VIEW_DIRECTION = "view_direction"  # unit vector from the point to the camera that saw it
POINTS_MODIFIER = "DUSt3R Points"


def properties(**values) -> dict[str, object]:
    """Custom properties from their short names: `properties(width=64)` -> {"dust3r_width": 64}."""
    return {PREFIX + key: value for key, value in values.items()}


# ----------------------------------------------------------------------------- the roles

def is_photo_camera(obj) -> bool:
    """A camera an import made for a photo."""
    return obj.type == "CAMERA" and WIDTH in obj and IMAGE_INDEX in obj


def is_track_camera(obj) -> bool:
    """The camera an import animated through a plate."""
    return obj.type == "CAMERA" and KEYFRAMES in obj


def has_photo_size(obj) -> bool:
    """A camera that knows its photo's (or plate's) size: "Look Through" sets it."""
    return obj.type == "CAMERA" and WIDTH in obj


def is_points(obj) -> bool:
    """An imported point cloud (a mesh with its attributes)."""
    return obj.type == "MESH" and all(name in obj.data.attributes
                                      for name in (COLOR, CONFIDENCE, POINT_IMAGE_INDEX))


def is_depth_mesh(obj) -> bool:
    return obj.type == "MESH" and DEPTH_STRIDE in obj


def origin_of(obj):
    """The reconstruction origin `obj` is (or hangs from), or None: cheap enough for a poll."""
    while obj is not None:
        if ORIGIN in obj:
            return obj
        obj = obj.parent
    return None


# ----------------------------------------------------------------- numpy <-> attributes

_FIELDS = {"FLOAT": ("value", 1, np.float32), "INT": ("value", 1, np.int32),
           "BOOLEAN": ("value", 1, bool), "FLOAT_VECTOR": ("vector", 3, np.float32),
           "FLOAT_COLOR": ("color_srgb", 4, np.float32), "BYTE_COLOR": ("color_srgb", 4,
                                                                         np.float32)}


def read_attribute(mesh, name: str) -> np.ndarray:
    """The attribute `name` of `mesh` as [N] or [N, width] (colours as sRGB RGBA)."""
    attribute = mesh.attributes[name]
    field, width, dtype = _FIELDS[attribute.data_type]
    values = np.empty(len(attribute.data) * width, dtype)
    attribute.data.foreach_get(field, values)
    return values if width == 1 else values.reshape(-1, width)


def write_attribute(mesh, name: str, values: np.ndarray, kind: str,
                    domain: str = "POINT") -> None:
    """`values` ([N] or [N, width]; colours sRGB RGBA) as the attribute `name` of `mesh`,
    made when missing. Fetched by name after adding it: a reference to another attribute
    dangles once one is added (a segfault)."""
    if name not in mesh.attributes:
        if kind.endswith("_COLOR"):
            mesh.color_attributes.new(name, kind, domain)
        else:
            mesh.attributes.new(name, kind, domain)
    field, _, dtype = _FIELDS[kind]
    mesh.attributes[name].data.foreach_set(field, np.ascontiguousarray(values, dtype).ravel())


def world_positions(obj) -> np.ndarray:
    """[N, 3] float64 the mesh's vertex positions through the object's matrix (through the
    vertices, which a mesh in Edit Mode updated from it has, unlike its attributes)."""
    xyz = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", xyz)
    xyz = xyz.reshape(-1, 3).astype(np.float64)
    matrix = np.array(obj.matrix_world, np.float64)
    return xyz @ matrix[:3, :3].T + matrix[:3, 3]


# -------------------------------------------------- the points modifier's live inputs

def input_identifiers(node_group) -> dict[str, str]:
    """Modifier inputs are keyed by socket identifier ("Socket_2"), not by their names."""
    return {item.name: item.identifier for item in node_group.interface.items_tree
            if getattr(item, "in_out", None) == "INPUT"}


def modifier_input(obj, name: str, default=None):
    """A live input ("Radius", "Min Confidence", ...) of an imported cloud; `default` when
    the object has no DUSt3R Points modifier (any more)."""
    modifier = obj.modifiers.get(POINTS_MODIFIER)
    if modifier is None or modifier.node_group is None:
        return default
    identifier = input_identifiers(modifier.node_group).get(name)
    if identifier is None:
        return default
    if not hasattr(modifier, "properties"):  # up to 5.1: ID properties
        return modifier.get(identifier, default)
    socket = getattr(modifier.properties.inputs, identifier, None)
    return default if socket is None else socket.value


def set_modifier_input(modifier, name: str, value) -> None:
    """Set a live input of the points modifier. Blender 5.2 replaced the modifier's ID
    properties (`modifier["Socket_1"]`) with a typed interface
    (`modifier.properties.inputs.Socket_1.value`)."""
    identifier = input_identifiers(modifier.node_group)[name]
    if hasattr(modifier, "properties"):
        getattr(modifier.properties.inputs, identifier).value = value
    else:
        modifier[identifier] = value


def set_points_input(obj, name: str, value) -> None:
    """Change a live input ("Radius", "Min Confidence", ...) of an imported cloud."""
    set_modifier_input(obj.modifiers[POINTS_MODIFIER], name, value)
    obj.update_tag()


def shown(obj) -> np.ndarray:
    """[N] bool: the points the cloud shows (at or above its live Min Confidence)."""
    threshold = float(modifier_input(obj, "Min Confidence", 0.0) or 0.0)
    return read_attribute(obj.data, CONFIDENCE) >= threshold


def shown_points(obj) -> tuple[np.ndarray, ...]:
    """xyz (world, float32), sRGB [M, 3], confidence and image index of the points the cloud
    shows."""
    keep, mesh = shown(obj), obj.data
    return (world_positions(obj)[keep].astype(np.float32),
            read_attribute(mesh, COLOR)[keep, :3], read_attribute(mesh, CONFIDENCE)[keep],
            read_attribute(mesh, POINT_IMAGE_INDEX)[keep])
