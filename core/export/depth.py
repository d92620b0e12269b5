"""Per-photo depth maps of a run, with the cameras to unproject them (numpy files only).

    FOLDER/
      depth.json                  every photo's files, camera and photo mapping (below)
      000_<photo>_depth.npy       float32 [H, W]: z-depth along the optical axis
      000_<photo>_confidence.npy  float32 [H, W]: the network's raw confidence (>= 1; 0
                                  where the clean-up rejected the pixel)
      000_<photo>_mask.npy        bool [H, W]: the pixels in the point cloud
      dust3r_export.json          marks the folder as an export (it is replaced as a whole)

The maps are the network image's (W x H, e.g. 512x384): the photo resized and centre-cropped.
Each entry of depth.json's "frames" gives the files, "width"/"height", "fx", "fy", "cx",
"cy" (OpenCV: pixel centres at integers) and "c2w" (4x4 camera-to-world, OpenCV camera axes:
x right, y down, z forward) in the export world (Blender's, Z up, the import's units; depth
in the same units). A pixel (u, v) of depth d is the world point

    c2w @ [d (u - cx) / fx, d (v - cy) / fy, d, 1]

"photo" has the source file, its upright "size" (W0, H0), "exif_orientation", and where the
network image came from: the photo resized to "resized" (W1, H1), then cropped to "crop"
(left, top, right, bottom). "photo_camera" is the same camera on the upright photo.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from ..errors import Dust3rError
from .description import ExportScene
from .files import staged_folder


def write_depth(export: ExportScene, folder: str | os.PathLike) -> Path:
    """Write the depth maps of `export` (made from a run: `describe_scene`/`describe_plan`
    with its Scene) to `folder`: new, empty or an earlier export, replaced whole."""
    if not export.depth:
        raise Dust3rError("There are no depth maps to export: they come with a finished run "
                          "(a reconstruction in Blender has only its points and cameras)")
    frames = []
    with staged_folder(folder, "depth") as stage:
        for depth in export.depth:
            photo = depth.photo
            stem = Path(photo.path).stem if photo else "image"
            base = f"{depth.image_index:03d}_{re.sub(r'[^A-Za-z0-9._-]', '_', stem)}"
            names = {kind: f"{base}_{kind}.npy" for kind in ("depth", "confidence", "mask")}
            np.save(stage.path / names["depth"], depth.depth.astype(np.float32))
            np.save(stage.path / names["confidence"], depth.confidence.astype(np.float32))
            np.save(stage.path / names["mask"], depth.mask.astype(bool))
            cam = depth.camera
            frame = {"image_index": depth.image_index, **names, "width": cam.width,
                     "height": cam.height, "fx": cam.fx, "fy": cam.fy, "cx": cam.cx,
                     "cy": cam.cy, "c2w": np.asarray(cam.c2w, np.float64).tolist()}
            if photo is not None:
                focal, pp = photo.intrinsics_to_photo((cam.fx + cam.fy) / 2, (cam.cx, cam.cy))
                frame["photo"] = {"path": photo.path, "size": list(photo.size),
                                  "exif_orientation": photo.exif_orientation,
                                  "resized": list(photo.resized), "crop": list(photo.crop)}
                frame["photo_camera"] = {"width": photo.size[0], "height": photo.size[1],
                                         "fx": focal, "fy": focal, "cx": float(pp[0]),
                                         "cy": float(pp[1])}
            frames.append(frame)
        with open(stage.path / "depth.json", "w", encoding="utf-8") as f:
            json.dump({"convention": "OpenCV cameras (x right, y down, z forward; pixel "
                                     "centres at integers); depth is z along the optical "
                                     "axis; world: Blender's (Z up)", "frames": frames},
                      f, indent=2)
        stage.record.update(images=len(frames), world="Blender (Z up)")
    return stage.target
