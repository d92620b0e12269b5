"""File > Export: a reconstruction as it is now, as a COLMAP model, a nerfstudio dataset or a
PLY cloud (`core.export`, read through `tool.export`). Each writes whole or not at all."""
from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from ..core.errors import Dust3rError
from ..core.export import DEFAULT_MAX_POINTS
from ..tool import export as reconstruction
from ..tool.preferences import preferences, require_dependencies


class _Export(ExportHelper):
    """What the three exporters share: which reconstruction, errors as reports."""

    check_extension = None  # the name is the user's (the folder exports have no extension)

    collection: StringProperty(
        name="Collection", default="", options={"SKIP_SAVE"},
        description="The reconstruction to export (empty: the one of the active object, or the "
                    "scene's only one)")

    @classmethod
    def poll(cls, context):
        return bool(reconstruction.reconstructions(context.scene))

    def execute(self, context):
        context.view_layer.update()  # the matrices of objects a script has just moved
        try:
            collection = reconstruction.find_reconstruction(context, self.collection)
            export = reconstruction.describe_collection(collection, context.scene)
            message = self.write(context, export)
        except Dust3rError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except OSError as exc:  # a full disk, a folder that vanished: nothing was written
            self.report({"ERROR"}, f"Cannot write {self.filepath}: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"{collection.name}: {message}")
        return {"FINISHED"}

    def write(self, context, export) -> str:
        raise NotImplementedError


class DUST3R_OT_export_colmap(bpy.types.Operator, _Export):
    """Export the reconstruction as a COLMAP sparse model with its images (for 3D Gaussian
    Splatting, gsplat, COLMAP)"""

    bl_idname = "dust3r.export_colmap"
    bl_label = "Export COLMAP Model"
    filename_ext = "_colmap"  # the default folder name: <blend name>_colmap

    model_format: EnumProperty(name="Format", default="BINARY", items=(
        ("BINARY", "Binary", "cameras.bin, images.bin, points3D.bin"),
        ("TEXT", "Text", "cameras.txt, images.txt, points3D.txt")))
    max_points: IntProperty(name="Max Points", default=DEFAULT_MAX_POINTS, min=0,
                            description="Points in points3D (a random subset; 0 = all)")

    def write(self, context, export) -> str:
        from ..core.export.colmap import write_colmap

        require_dependencies(preferences(context))  # Pillow for the photos
        folder = write_colmap(export, bpy.path.abspath(self.filepath),
                              binary=self.model_format == "BINARY", max_points=self.max_points)
        return f"COLMAP model of {len(export.cameras)} photos written to {folder}"


class DUST3R_OT_export_nerfstudio(bpy.types.Operator, _Export):
    """Export the reconstruction as a nerfstudio dataset: transforms.json, images and a seed
    point cloud in a folder"""

    bl_idname = "dust3r.export_nerfstudio"
    bl_label = "Export nerfstudio Dataset"
    filename_ext = "_nerfstudio"  # the default folder name: <blend name>_nerfstudio

    max_points: IntProperty(name="Max Points", default=DEFAULT_MAX_POINTS, min=0,
                            description="Points in the seed cloud (a random subset; 0 = all)")

    def write(self, context, export) -> str:
        from ..core.export.nerfstudio import write_transforms

        require_dependencies(preferences(context))  # Pillow for the photos
        path = write_transforms(export, os.path.join(bpy.path.abspath(self.filepath),
                                                     "transforms.json"),
                                max_points=self.max_points)
        return f"nerfstudio dataset of {len(export.cameras)} photos written to {path}"


class DUST3R_OT_export_ply(bpy.types.Operator, _Export):
    """Export the reconstruction's points as a PLY file (x y z, sRGB colour, confidence)"""

    bl_idname = "dust3r.export_ply"
    bl_label = "Export Point Cloud"
    filename_ext = ".ply"
    check_extension = True

    filter_glob: StringProperty(default="*.ply", options={"HIDDEN"})

    def write(self, context, export) -> str:
        from ..core.export.ply import write_points

        if not len(export.points):
            raise Dust3rError("The reconstruction has no points to export")
        path = write_points(export, bpy.path.abspath(self.filepath))
        return f"{len(export.points):,} points written to {path}"


def menu(self, context) -> None:
    """File > Export entries."""
    self.layout.operator(DUST3R_OT_export_colmap.bl_idname, text="DUSt3R COLMAP Model")
    self.layout.operator(DUST3R_OT_export_nerfstudio.bl_idname, text="DUSt3R nerfstudio Dataset")
    self.layout.operator(DUST3R_OT_export_ply.bl_idname, text="DUSt3R Point Cloud (.ply)")


CLASSES = (DUST3R_OT_export_colmap, DUST3R_OT_export_nerfstudio, DUST3R_OT_export_ply)
