"""Render the demo scene with Cycles on the CPU: photos with exact ground truth.

A small room (floor, walls, a few objects), every surface with its own procedural texture
(DUSt3R matches texture), photographed by N cameras standing around the objects with varied
focal lengths. One photo is portrait, and one is stored rotated with an EXIF Orientation tag
so that viewers (and our loader) show it upright. Each camera is rendered twice: the photo
(anti-aliased, denoised) and a 1-sample Z pass at the pixel centres, which is exactly the
OpenCV z-depth. Writes `view_XX.jpg`, `depth_view_XX.npy` and `ground_truth.json`
(`demo.truth`). With `--moving NAME` that object moves between the shots, and each photo's
mask of it (from the object index pass, rendered like the depth) is written to
`masks/view_XX.png` (white = keep, black = the moving object).

    python -m demo.render OUT_DIR [--views 6] [--width 640 --height 480] [--samples 4]
                                  [--moving ball --motion 0.5 --moving-scale 1]
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector
from PIL import Image

from .compat import (depth_as_output, pass_as_output, read_float_image, render_still,
                     set_file_format)
from .truth import TrueCamera, save_photo, write_ground_truth

_OPENCV_FROM_BLENDER = Matrix.Diagonal((1.0, -1.0, -1.0, 1.0))  # camera axes: y, z flipped
_TARGET = Vector((0.0, 0.0, 0.6))  # what the cameras look at: the middle of the objects


@dataclass(frozen=True)
class Shot:
    """One photo to take: where from, with which lens and format."""

    name: str
    location: Vector
    target: Vector
    roll_deg: float
    lens_mm: float  # with a 36 mm wide sensor (horizontal fit)
    width: int  # upright size
    height: int
    exif_orientation: int


# ----------------------------------------------------------------------------- materials

def _material(name: str, build) -> bpy.types.Material:
    """A Principled material whose base colour comes from `build(nodes, links, coords)`."""
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Roughness"].default_value = 0.8
    coords = nodes.new("ShaderNodeTexCoord").outputs["Object"]  # metres: objects keep scale 1
    colour = build(nodes, links, coords)
    links.new(colour, bsdf.inputs["Base Color"])
    # Ambient light as a little self-emission: no sky sampling, so no noise to average away.
    links.new(colour, bsdf.inputs["Emission Color"])
    bsdf.inputs["Emission Strength"].default_value = 0.3
    return mat


def _texture(kind: str, scale: float, colours, **settings):
    """Builder of a texture node of `kind` whose Fac runs through a ramp of `colours`."""
    def build(nodes, links, coords):
        tex = nodes.new(kind)
        tex.inputs["Scale"].default_value = scale
        for key, value in settings.items():
            if key in tex.inputs:
                tex.inputs[key].default_value = value
            else:
                setattr(tex, key, value)
        links.new(coords, tex.inputs["Vector"])
        out = tex.outputs["Fac"] if "Fac" in tex.outputs else tex.outputs["Distance"]
        ramp = nodes.new("ShaderNodeValToRGB")
        elements = ramp.color_ramp.elements
        for k, rgb in enumerate(colours):
            position = k / (len(colours) - 1)
            element = elements[k] if k < len(elements) else elements.new(position)
            element.position, element.color = position, (*rgb, 1.0)
        links.new(out, ramp.inputs["Fac"])
        return ramp.outputs["Color"]
    return build


def _mix(a, b, detail):
    """Texture a overlaid with a finer texture b (multiply), so every patch has structure."""
    def build(nodes, links, coords):
        mix = nodes.new("ShaderNodeMix")
        mix.data_type, mix.blend_type = "RGBA", "MULTIPLY"
        mix.inputs["Factor"].default_value = detail
        links.new(a(nodes, links, coords), mix.inputs["A"])
        links.new(b(nodes, links, coords), mix.inputs["B"])
        return mix.outputs["Result"]
    return build


def _materials() -> dict[str, bpy.types.Material]:
    grain = _texture("ShaderNodeTexNoise", 40.0, [(0.35, 0.35, 0.35), (1.0, 1.0, 1.0)], Detail=2.0)
    spec = {
        "floor": _mix(_brick_colour, grain, 0.6),
        "wall_a": _mix(_texture("ShaderNodeTexWave", 1.5, [(0.75, 0.62, 0.45), (0.35, 0.45, 0.6)],
                                Distortion=4.0, Detail=3.0), grain, 0.5),
        "wall_b": _mix(_texture("ShaderNodeTexVoronoi", 2.5, [(0.15, 0.4, 0.3), (0.85, 0.85, 0.7)]),
                       grain, 0.5),
        "wall_c": _mix(_texture("ShaderNodeTexMagic", 1.2, [(0.6, 0.2, 0.25), (0.95, 0.8, 0.5)],
                                turbulence_depth=3), grain, 0.5),
        "wall_d": _mix(_texture("ShaderNodeTexChecker", 4.0, [(0.3, 0.3, 0.55), (0.8, 0.75, 0.6)]),
                       grain, 0.5),
        "box": _mix(_texture("ShaderNodeTexVoronoi", 8.0, [(0.9, 0.5, 0.1), (0.2, 0.1, 0.05)]),
                    grain, 0.4),
        "ball": _mix(_texture("ShaderNodeTexNoise", 6.0,
                              [(0.1, 0.3, 0.8), (0.9, 0.9, 0.3), (0.8, 0.1, 0.1)],
                              Detail=6.0, Distortion=1.0), grain, 0.3),
        "pillar": _mix(_texture("ShaderNodeTexChecker", 12.0, [(0.1, 0.1, 0.1), (0.9, 0.9, 0.85)]),
                       grain, 0.3),
        "cone": _mix(_texture("ShaderNodeTexWave", 6.0, [(0.2, 0.6, 0.2), (0.95, 0.95, 0.95)],
                              wave_type="RINGS", Distortion=2.0), grain, 0.4),
        "ring": _mix(_texture("ShaderNodeTexMagic", 5.0, [(0.5, 0.1, 0.6), (1.0, 0.7, 0.2)]),
                     grain, 0.4),
    }
    return {name: _material(name, build) for name, build in spec.items()}


def _brick_colour(nodes, links, coords):
    """Floor tiles: the brick texture's colours (not its Fac) give per-tile variation."""
    tex = nodes.new("ShaderNodeTexBrick")
    tex.inputs["Scale"].default_value = 2.5
    tex.inputs["Color1"].default_value = (0.55, 0.35, 0.2, 1.0)
    tex.inputs["Color2"].default_value = (0.8, 0.6, 0.4, 1.0)
    tex.inputs["Mortar"].default_value = (0.15, 0.12, 0.1, 1.0)
    links.new(coords, tex.inputs["Vector"])
    return tex.outputs["Color"]


# ----------------------------------------------------------------------------- scene

def _add(op, name: str, material: bpy.types.Material, **kwargs) -> bpy.types.Object:
    op(**kwargs)
    obj = bpy.context.active_object
    obj.name = name
    obj.data.materials.append(material)
    return obj


def build_room(room: float = 8.0, wall_height: float = 3.0) -> None:
    """Floor, four walls, five textured objects, a sun and a sky: the whole set."""
    m = _materials()
    mesh = bpy.ops.mesh
    half = room / 2
    _add(mesh.primitive_plane_add, "floor", m["floor"], size=room)
    for name, loc, rot in (("wall_a", (0, half, 1), (90, 0, 0)),
                           ("wall_b", (half, 0, 1), (90, 0, 90)),
                           ("wall_c", (0, -half, 1), (90, 0, 0)),
                           ("wall_d", (-half, 0, 1), (90, 0, 90))):
        wall = _add(mesh.primitive_plane_add, name, m[name], size=1.0)
        wall.data.transform(Matrix.Diagonal((room, wall_height, 1.0, 1.0)))  # keep scale 1
        wall.location = (loc[0], loc[1], wall_height / 2)
        wall.rotation_euler = [math.radians(a) for a in rot]
    _add(mesh.primitive_cube_add, "box", m["box"], size=0.8, location=(0.5, 0.3, 0.4),
         rotation=(0, 0, math.radians(25)))
    _add(mesh.primitive_uv_sphere_add, "ball", m["ball"], radius=0.35, segments=48,
         ring_count=24, location=(-0.6, 0.5, 0.35))
    bpy.ops.object.shade_smooth()
    _add(mesh.primitive_cylinder_add, "pillar", m["pillar"], radius=0.2, depth=1.6,
         vertices=48, location=(-0.3, -0.6, 0.8))
    _add(mesh.primitive_cone_add, "cone", m["cone"], radius1=0.35, depth=0.8, vertices=48,
         location=(0.7, -0.6, 0.4))
    _add(mesh.primitive_torus_add, "ring", m["ring"], major_radius=0.3, minor_radius=0.1,
         location=(0.5, 0.3, 0.9), rotation=(math.radians(70), 0, 0))
    bpy.ops.object.shade_smooth()

    sun = bpy.data.lights.new("sun", "SUN")
    sun.energy, sun.angle = 3.0, 0.0  # a point-like sun: hard shadows, noise-free at 1 spp
    sun_obj = bpy.data.objects.new("sun", sun)
    sun_obj.rotation_euler = (math.radians(40), math.radians(15), math.radians(30))
    bpy.context.scene.collection.objects.link(sun_obj)
    world = bpy.data.worlds.new("sky")
    if bpy.app.version < (5, 0, 0):
        world.use_nodes = True
    # The sky is seen by the camera but lights nothing (ambient light comes from emission).
    nodes = world.node_tree.nodes
    background = nodes["Background"]
    background.inputs["Color"].default_value = (0.55, 0.65, 0.8, 1.0)
    world.node_tree.links.new(nodes.new("ShaderNodeLightPath").outputs["Is Camera Ray"],
                              background.inputs["Strength"])
    bpy.context.scene.world = world


def plan_shots(n_views: int = 6, width: int = 640, height: int = 480, seed: int = 0,
               portrait: int = 1, exif_rotated: int = 2) -> list[Shot]:
    """Cameras on a ring around the objects, each with its own height, lens and roll.

    Photo `portrait` is taken upright in portrait format; photo `exif_rotated` is a landscape
    photo stored rotated by 90 degrees with EXIF orientation 6 (how phones store them).
    """
    rng = np.random.default_rng(seed)
    shots = []
    for k in range(n_views):
        azimuth = 2 * math.pi * k / n_views + rng.uniform(-0.15, 0.15)
        radius, z = rng.uniform(2.6, 3.3), rng.uniform(1.2, 2.0)
        location = Vector((radius * math.cos(azimuth), radius * math.sin(azimuth), z))
        target = _TARGET + Vector(rng.uniform(-0.2, 0.2, 3))
        w, h = (height, width) if k == portrait else (width, height)
        shots.append(Shot(f"view_{k:02d}", location, target, rng.uniform(-4, 4),
                          rng.uniform(22.0, 40.0), w, h, 6 if k == exif_rotated else 1))
    return shots


def add_camera(shot: Shot) -> bpy.types.Object:
    """A camera object taking `shot`, linked to the scene."""
    cam = bpy.data.cameras.new(shot.name)
    cam.sensor_fit, cam.sensor_width, cam.lens = "HORIZONTAL", 36.0, shot.lens_mm
    cam.clip_start, cam.clip_end = 0.05, 100.0
    obj = bpy.data.objects.new(shot.name, cam)
    aim(obj, shot)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def aim(obj: bpy.types.Object, shot: Shot) -> None:
    """Stand the camera object where `shot` says, looking at its target, rolled."""
    look = (shot.target - shot.location).to_track_quat("-Z", "Y")
    roll = Matrix.Rotation(math.radians(shot.roll_deg), 4, "Z")
    obj.matrix_world = Matrix.Translation(shot.location) @ look.to_matrix().to_4x4() @ roll


def true_camera(obj: bpy.types.Object, shot: Shot, suffix: str = ".jpg") -> TrueCamera:
    """The OpenCV camera of a horizontal-fit Blender camera without shift (pp at the centre)."""
    f = obj.data.lens / obj.data.sensor_width * shot.width
    c2w = np.array(obj.matrix_world @ _OPENCV_FROM_BLENDER, np.float64)
    return TrueCamera(f"{shot.name}{suffix}", shot.width, shot.height, f, f,
                      (shot.width - 1) / 2, (shot.height - 1) / 2, c2w,
                      shot.exif_orientation, f"depth_{shot.name}.npy")


# ----------------------------------------------------------------------------- rendering

def _set_render(scene, width: int, height: int, samples: int, filter_width: float,
                denoise: bool) -> None:
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.filter_width = filter_width
    scene.cycles.use_denoising = denoise


def _render_depth(scene, path: Path) -> np.ndarray:
    """One sample at each pixel centre: Cycles' Z pass is then exactly OpenCV z-depth."""
    layer = scene.view_layers[0]
    layer.material_override = bpy.data.materials.new("depth only")  # no texture to shade
    set_file_format(scene.render.image_settings, "OPEN_EXR", color_mode="RGB",
                    color_depth="32", exr_codec="ZIP")  # full float, lossless
    scene.render.filepath = str(path)
    with depth_as_output(scene):
        render_still()
    bpy.data.materials.remove(layer.material_override)
    depth = read_float_image(path)
    return np.where(depth < 1e9, depth, np.inf).astype(np.float32)  # background: 1e10


def _render_object_index(scene, path: Path) -> np.ndarray:
    """The pass index of the object at each pixel centre (0: none), sampled as the depth."""
    layer = scene.view_layers[0]
    layer.material_override = bpy.data.materials.new("index only")
    set_file_format(scene.render.image_settings, "OPEN_EXR", color_mode="RGB",
                    color_depth="32", exr_codec="ZIP")
    scene.render.filepath = str(path)
    with pass_as_output(scene, "object_index"):
        render_still()
    bpy.data.materials.remove(layer.material_override)
    return np.rint(read_float_image(path)).astype(np.int64)


def moving_locations(start: Vector, n_views: int, motion: float) -> list[Vector]:
    """Where the moving object stands in each shot: `motion` metres from `start` in a
    direction that turns from +y to -x over the shots (for the ball: away from the others)."""
    return [start + motion * Vector((math.cos(a), math.sin(a), 0.0)) for a in
            (math.pi / 2 * (1 + k / max(n_views - 1, 1)) for k in range(n_views))]


def _render_photo(scene, path: Path) -> Image.Image:
    set_file_format(scene.render.image_settings, "PNG", color_mode="RGB", color_depth="8")
    scene.render.filepath = str(path)
    render_still()
    return Image.open(path).convert("RGB")


def render_view(scene, shot: Shot, folder: Path, samples: int) -> tuple[Image.Image, np.ndarray]:
    """The scene camera's photo (anti-aliased, denoised) and its z-depth (one sample at each
    pixel centre), through files in `folder`."""
    _set_render(scene, shot.width, shot.height, samples, 1.5, True)
    photo = _render_photo(scene, folder / f"{shot.name}.png")
    _set_render(scene, shot.width, shot.height, 1, 0.01, False)
    return photo, _render_depth(scene, folder / f"{shot.name}.exr")


def new_scene() -> bpy.types.Scene:
    """A fresh Blender file holding the demo room, set up for Cycles on the CPU."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.max_bounces = 0  # direct sun + emission: clean at a few samples
    scene.view_settings.view_transform = "Standard"  # photo pixels = plain sRGB
    build_room()
    return scene


def render_scene(out_dir: str | Path, n_views: int = 6, width: int = 640, height: int = 480,
                 samples: int = 4, seed: int = 0, moving: str = "", motion: float = 0.5,
                 moving_scale: float = 1.0) -> Path:
    """Build the room in a fresh Blender file, render every shot; returns the JSON's path.

    `moving` names an object ("ball", "box", "pillar", "cone", "ring") that stands somewhere
    else in each shot (`moving_locations`, `motion` metres from where it was), made
    `moving_scale` times bigger (standing on the floor); each photo's mask of it goes to
    `masks/`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scene = new_scene()
    mover = bpy.data.objects[moving] if moving else None
    if mover is not None:
        mover.pass_index = 1  # the only object with an index
        mover.scale *= moving_scale
        mover.location.z *= moving_scale  # each object's origin is half its height up
        locations = moving_locations(mover.location.copy(), n_views, motion)
        (out / "masks").mkdir(exist_ok=True)
    cameras = []
    with tempfile.TemporaryDirectory(prefix="dust3r-demo-") as tmp:
        for k, shot in enumerate(plan_shots(n_views, width, height, seed)):
            if mover is not None:
                mover.location = locations[k]
                bpy.context.view_layer.update()
            scene.camera = obj = add_camera(shot)
            photo, depth = render_view(scene, shot, Path(tmp), samples)
            cam = true_camera(obj, shot)
            if mover is not None:  # upright, like the photo as a viewer shows it
                index = _render_object_index(scene, Path(tmp) / f"{shot.name}_index.exr")
                keep = np.where(index == mover.pass_index, 0, 255).astype(np.uint8)
                cam = replace(cam, mask_file=f"masks/{shot.name}.png",
                              object_pose=np.array(mover.matrix_world, np.float64))
                Image.fromarray(keep).save(out / cam.mask_file)
            save_photo(photo, out / cam.file, shot.exif_orientation)
            np.save(out / cam.depth_file, depth)
            cameras.append(cam)
    return write_ground_truth(out, cameras)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.render", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--views", type=int, default=6)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--moving", default="", help="an object that moves between the shots "
                        "(ball, box, pillar, cone, ring); its masks go to OUT_DIR/masks")
    parser.add_argument("--motion", type=float, default=0.5, help="how far it moves (metres)")
    parser.add_argument("--moving-scale", type=float, default=1.0, help="and how much bigger")
    args = parser.parse_args(argv)
    path = render_scene(args.out_dir, args.views, args.width, args.height, args.samples, args.seed,
                        args.moving, args.motion, args.moving_scale)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
