"""Scene set-up: Set Floor, Set Origin and Set Scale move a whole reconstruction (points,
cameras, depth meshes, camera animation) through its one parent object; undoable.

Thin: Blender data in through `tool.scene_setup`, a similarity out of `core.scene_setup`.
"""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, FloatProperty

from ..core import options, schema
from ..core import scene_setup as setup
from ..core.errors import Dust3rError
from ..tool import scene_setup as recon


class _SetUp:
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def execute(self, context):
        try:
            origin = recon.find_origin(context)
            matrix, scale, message = self.transform(context, origin)
        except Dust3rError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        recon.leave_edit_mode(context)
        recon.move(context, origin, matrix, scale)
        self.report({"INFO"}, message)
        return {"FINISHED"}


class DUST3R_OT_set_floor(_SetUp, bpy.types.Operator):
    """Make the plane of the selected points (Edit Mode), or with none selected the point
    cloud's dominant plane, the floor: Z = 0, Z up, the cameras above it"""

    bl_idname = "dust3r.set_floor"
    bl_label = "Set Floor"

    def transform(self, context, origin):
        points = recon.selected_points(context, origin)
        if len(points) == 0:
            cloud = recon.cloud_points(origin)
            plane, inliers = setup.dominant_plane(cloud)
            what = f"the cloud's dominant plane ({inliers.sum():,} of {len(cloud):,} points)"
        elif len(points) < 3:
            raise Dust3rError(f"Set Floor needs at least 3 selected points, {len(points)} "
                              "selected (select none for the cloud's dominant plane)")
        else:
            plane, what = setup.fit_plane(points), f"{len(points):,} selected points"
        matrix = setup.floor_transform(plane, recon.camera_positions(origin))
        return matrix, 1.0, f"Floor set to {what}"


class DUST3R_OT_set_origin(_SetUp, bpy.types.Operator):
    """Move the reconstruction so that the 3D cursor or the centre of the selected points is
    the world origin"""

    bl_idname = "dust3r.set_origin"
    bl_label = "Set Origin"

    source: EnumProperty(name="Origin", default="cursor",
                         items=options.enum_items(options.ORIGIN_SOURCES))

    def transform(self, context, origin):
        if self.source == "cursor":
            point, what = tuple(context.scene.cursor.location), "the 3D cursor"
        else:
            points = recon.selected_points(context, origin)
            if not len(points):
                raise Dust3rError("Set Origin: no point is selected (select points in Edit "
                                  "Mode, or use the 3D cursor)")
            point, what = setup.centre(points), f"the centre of {len(points):,} selected points"
        return setup.origin_transform(point), 1.0, f"Origin set at {what}"


class DUST3R_OT_set_scale(_SetUp, bpy.types.Operator):
    """Scale the reconstruction about the world origin so that two selected points are a
    real distance apart, or the active camera is at a real height above the floor"""

    bl_idname = "dust3r.set_scale"
    bl_label = "Set Scale"

    source: EnumProperty(name="Measure", default="points",
                         items=options.enum_items(options.SCALE_SOURCES))
    distance: FloatProperty(name="Distance", default=1.0, soft_min=0.0, unit="LENGTH",
                            description="The real distance between the two selected points")
    height: FloatProperty(name="Camera Height", default=1.6, soft_min=0.0, unit="LENGTH",
                          description="The real height of the active camera above the floor")

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self)

    def draw(self, context):
        self.layout.prop(self, "source")
        self.layout.prop(self, "distance" if self.source == "points" else "height")

    def transform(self, context, origin):
        if self.source == "points":
            points = recon.selected_points(context, origin)
            if len(points) != 2:
                raise Dust3rError(f"Set Scale needs exactly 2 selected points, {len(points)} "
                                  "selected")
            factor = setup.scale_between(points[0], points[1], self.distance)
            what = f"the two points {self.distance:g} apart"
        else:
            camera = _active_camera(context, origin)
            height = float(camera.matrix_world.translation.z)
            factor = setup.scale_from_height(height, self.height)
            what = f"{camera.name} {self.height:g} above the floor"
        return setup.scale_transform(factor), factor, f"Scaled by {factor:.4g}: {what}"


def _active_camera(context, origin) -> bpy.types.Object:
    """The active object if it is a camera of the reconstruction, else the scene camera."""
    for obj in (context.active_object, context.scene.camera):
        if obj is not None and obj.type == "CAMERA" and schema.origin_of(obj) == origin:
            return obj
    raise Dust3rError("Set Scale: make a camera of the reconstruction active (or the scene "
                      "camera) to measure its height")


CLASSES = (DUST3R_OT_set_floor, DUST3R_OT_set_origin, DUST3R_OT_set_scale)
