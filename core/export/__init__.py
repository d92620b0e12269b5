"""Files other tools read, written from one plain description of a reconstruction.

An `ExportScene` (`description`) holds what every format needs: each photo's OpenCV camera
on the EXIF-upright photo with its file, and the coloured point cloud, all in one world. A
finished run makes one with `describe_plan` / `describe_scene` (from `core.plan`, so an export
has the numbers an import has); the Blender side makes one from a reconstruction collection
as it is now (`tool.export`). One module per format, none of them imports bpy:

    colmap      sparse/0 (binary or text), images/, points3D.ply: 3DGS, gsplat, COLMAP
    nerfstudio  transforms.json with images/, masks/ and a seed cloud
    ply         the point cloud: x y z, red green blue (sRGB), confidence
    depth       per-photo depth, confidence and mask (.npy) with the cameras (depth.json)

Exports use Blender's world: Z up, in the import's units (`core.cameras.world_matrix`), so
a command-line export and a File > Export of the untouched import agree. Every writer
builds its files in a hidden folder beside the destination and moves them into place at the
end (`files`): a failed or cancelled export leaves nothing behind and an earlier export as
it was.
"""
from .description import (DEFAULT_MAX_POINTS, DepthMap, ExportCamera, ExportPoints, ExportScene,
                          describe_plan, describe_scene)

__all__ = ["DEFAULT_MAX_POINTS", "DepthMap", "ExportCamera", "ExportPoints", "ExportScene",
           "describe_plan", "describe_scene"]
