"""Depth meshes, decided without Blender: one grid mesh per photo from its depth map, its
vertices on the scene's points in Blender's world, its UVs on the photo's pixels, and no
faces across depth discontinuities or on pixels that are not confident."""
import numpy as np
import pytest

from core.cameras import transform_points
from core.errors import Dust3rError
from core.images import Photo
from core.settings import ImportOptions
from core.plan import DEPTH_MAX_SLOPE, camera_name, grid_indices, plan_import
from core.scene import Scene


def random_pose(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    c2w = np.eye(4)
    c2w[:3, :3] = q * np.sign(np.linalg.det(q))
    c2w[:3, 3] = rng.uniform(-1, 1, 3)
    return c2w


def unproject(depth: np.ndarray, focal: float, pp, c2w: np.ndarray) -> np.ndarray:
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    cam = np.stack([(u - pp[0]) / focal * depth, (v - pp[1]) / focal * depth, depth], -1)
    return cam @ c2w[:3, :3].T + c2w[:3, 3]


def depth_scene(depths, photos, focals, poses=None, confidence=None, masks=None, colors=True):
    """A Scene whose points are its depth maps unprojected (principal point at the centre)."""
    n = len(depths)
    poses = [np.eye(4) if poses is None else poses[k] for k in range(n)]
    pps = [((d.shape[1] - 1) / 2, (d.shape[0] - 1) / 2) for d in depths]
    pts = [unproject(d, f, pp, c2w) for d, f, pp, c2w in zip(depths, focals, pps, poses)]
    rng = np.random.default_rng(0)
    conf = confidence or [rng.uniform(2.0, 10.0, d.shape).astype(np.float32) for d in depths]
    cols = [rng.random(d.shape + (3,), dtype=np.float32) for d in depths] if colors else None
    return Scene(np.asarray(poses, np.float32), np.asarray(focals, np.float32),
                 np.asarray(pps, np.float32), [d.astype(np.float32) for d in depths],
                 [p.astype(np.float32) for p in pts], conf,
                 masks or [np.ones(d.shape, bool) for d in depths], cols, photos=photos)


def bumpy(size, base=2.0):
    w, h = size
    v, u = np.mgrid[0:h, 0:w]
    return base + 0.05 * np.sin(u / 5.0) * np.cos(v / 7.0)


def test_vertices_are_the_scenes_points_in_blender_world_and_uvs_their_photo_pixels(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    # A 1001 x 667 photo resized to 512 x 341 and cropped to 512 x 336 by the loader.
    photo = Photo(str(tmp_path / "a.jpg"), (1001, 667), 1, (512, 341), (0, 2, 512, 338))
    depth = bumpy(photo.network_size)
    scene = depth_scene([depth], [photo], [420.0], poses=[random_pose(1)])
    plan = plan_import(scene, ImportOptions(depth_meshes=True, depth_stride=3))
    mesh = plan.depth_meshes[0]
    assert mesh.name == camera_name(scene, 0) + " depth" == plan.cameras[0].name + " depth"
    assert mesh.textured and mesh.stride == 3 and mesh.photo is photo

    u, v = mesh.pixels.T
    true_points = unproject(depth, 420.0, scene.pp[0], scene.c2w[0].astype(np.float64))
    np.testing.assert_allclose(mesh.vertices, transform_points(plan.world, true_points[v, u]),
                               atol=1e-5 * plan.scale)
    # The same vertices as the point cloud's points of those pixels.
    np.testing.assert_array_equal(
        mesh.vertices, transform_points(plan.world, scene.pts3d[0][v, u].astype(np.float32)))

    # UV (0, 0) is the photo's bottom-left corner; each UV is its vertex's photo pixel.
    W0, H0 = photo.size
    uv_pixels = np.stack([mesh.uv[:, 0] * W0 - 0.5, (1 - mesh.uv[:, 1]) * H0 - 0.5], -1)
    np.testing.assert_allclose(photo.pixel_to_network(uv_pixels), mesh.pixels, atol=2e-3)
    # ...which is where the photo's camera sees the vertex (up to the loader's rounding of
    # one side, 0.1 % here).
    seen = plan.cameras[0].camera.project(true_points[v, u])[:, :2]
    np.testing.assert_allclose(seen, uv_pixels, atol=1e-3 * W0)
    np.testing.assert_allclose(mesh.confidence, scene.confidence[0][v, u])
    # Renders show the photo; Solid shading shows the network image's colours.
    np.testing.assert_allclose(mesh.rgb, scene.colors[0][v, u])


def test_the_grid_takes_every_stride_th_pixel_and_reaches_the_last_row_and_column():
    photo = Photo("/gone/b.png", (32, 24), 1, (32, 24), (0, 0, 32, 24))
    scene = depth_scene([np.full((24, 32), 2.0)], [photo], [30.0])
    for stride in (1, 2, 3, 7, 40):
        mesh = plan_import(scene, ImportOptions(depth_meshes=True, depth_stride=stride)
                           ).depth_meshes[0]
        cols, rows = grid_indices(32, stride), grid_indices(24, stride)
        assert set(cols) == set(range(0, 32, stride)) | {31}
        assert set(rows) == set(range(0, 24, stride)) | {23}
        assert {tuple(p) for p in mesh.pixels} == {(c, r) for r in rows for c in cols}
        assert len(mesh.faces) == (len(rows) - 1) * (len(cols) - 1)  # a flat wall: all kept
        assert mesh.faces.min() == 0 and mesh.faces.max() == len(mesh.pixels) - 1
        # Each face is one grid cell: its corners are neighbours in the grid.
        corner_pixels = mesh.pixels[mesh.faces]  # [F, 4, 2]
        assert len({tuple(map(tuple, f)) for f in corner_pixels}) == len(mesh.faces)
        assert (np.ptp(corner_pixels[..., 0], 1) > 0).all()
        assert (np.ptp(corner_pixels[..., 1], 1) > 0).all()


def test_faces_face_their_camera():
    photo = Photo("/gone/c.jpg", (40, 30), 1, (40, 30), (0, 0, 40, 30))
    scene = depth_scene([bumpy((40, 30))], [photo], [35.0], poses=[random_pose(4)])
    plan = plan_import(scene, ImportOptions(depth_meshes=True))
    mesh = plan.depth_meshes[0]
    quad = mesh.vertices[mesh.faces].astype(np.float64)
    normals = np.cross(quad[:, 2] - quad[:, 0], quad[:, 3] - quad[:, 1])
    camera = plan.cameras[0].blender.matrix_world[:3, 3]
    to_camera = camera - quad.mean(1)
    assert ((normals * to_camera).sum(1) > 0).all()


def step_scene(stride_focal=60.0):
    """A wall at depth 2 with a box at depth 1 in front of columns 12-23, a low-confidence
    patch and a masked patch (clean-up or a user mask)."""
    w, h = 36, 28
    depth = np.full((h, w), 2.0)
    depth[:, 12:24] = 1.0
    conf = np.full((h, w), 5.0, np.float32)
    conf[2:6, 2:6] = 1.5  # under the import's threshold
    mask = np.ones((h, w), bool)
    mask[20:25, 28:33] = False
    conf[20:25, 28:33] = 0.0
    photo = Photo("/gone/step.jpg", (w, h), 1, (w, h), (0, 0, w, h))
    return depth_scene([depth], [photo], [stride_focal], confidence=[conf], masks=[mask])


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_faces_across_depth_jumps_or_on_unconfident_pixels_are_dropped(stride):
    scene = step_scene()
    mesh = plan_import(scene, ImportOptions(depth_meshes=True, depth_stride=stride,
                                            confidence_threshold=3.0)).depth_meshes[0]
    kept = {tuple(map(tuple, f)) for f in mesh.pixels[mesh.faces]}
    depth, conf, mask = scene.depthmaps[0], scene.confidence[0], scene.masks[0]
    good = mask & (conf >= 3.0)
    for face in kept:  # no kept face spans the jump or touches a bad pixel
        d = [depth[r, c] for c, r in face]
        assert max(d) == min(d)
        assert all(good[r, c] for c, r in face)
    # Every grid cell on one level with good corners is kept.
    rows, cols = grid_indices(28, stride), grid_indices(36, stride)
    expected = set()
    for r0, r1 in zip(rows[:-1], rows[1:]):
        for c0, c1 in zip(cols[:-1], cols[1:]):
            face = ((c0, r0), (c0, r1), (c1, r1), (c1, r0))
            if len({depth[r, c] for c, r in face}) == 1 and all(good[r, c] for c, r in face):
                expected.add(face)
    assert kept == expected
    assert 0 < len(kept) < (len(rows) - 1) * (len(cols) - 1)
    # Unused vertices are not kept: the low-confidence patch's inner pixels are gone.
    used = {tuple(p) for p in mesh.pixels}
    assert used == {p for face in kept for p in face}


@pytest.mark.parametrize("stride", [1, 4])
def test_the_jump_threshold_keeps_surfaces_up_to_84_degrees_from_facing_the_camera(stride):
    # A plane through depth 2 on the optical axis, turned by `angle` about the camera's y
    # axis, in a narrow view (focal 2000 px: the jump per pixel is tan(angle) / focal).
    w, h, focal = 33, 9, 2000.0
    u = np.arange(w) - (w - 1) / 2
    counts = {}
    for angle in (60.0, 80.0, 86.0, 88.0):
        t = np.tan(np.radians(angle))
        depth = np.tile(2.0 / (1.0 + t * u / focal), (h, 1))
        photo = Photo("/gone/plane.jpg", (w, h), 1, (w, h), (0, 0, w, h))
        scene = depth_scene([depth], [photo], [focal])
        mesh = plan_import(scene, ImportOptions(depth_meshes=True, depth_stride=stride)
                           ).depth_meshes[0]
        counts[angle] = len(mesh.faces)
    all_faces = (len(grid_indices(h, stride)) - 1) * (len(grid_indices(w, stride)) - 1)
    assert np.degrees(np.arctan(DEPTH_MAX_SLOPE)) == pytest.approx(84.3, abs=0.05)
    assert counts[60.0] == counts[80.0] == all_faces
    assert counts[86.0] == counts[88.0] == 0


def test_portrait_and_landscape_without_photos_or_colours():
    depths = [bumpy((20, 14)), bumpy((14, 20))]
    scene = depth_scene(depths, [], [18.0, 18.0], colors=False)
    plan = plan_import(scene, ImportOptions(depth_meshes=True, depth_stride=2))
    assert [m.name for m in plan.depth_meshes] == ["000 camera depth", "001 camera depth"]
    for mesh, (h, w) in zip(plan.depth_meshes, [d.shape for d in depths]):
        assert not mesh.textured and mesh.photo is None
        # The network image is the photo: UVs on its pixel centres.
        np.testing.assert_allclose(mesh.uv[:, 0], (mesh.pixels[:, 0] + 0.5) / w, rtol=1e-6)
        np.testing.assert_allclose(mesh.uv[:, 1], 1 - (mesh.pixels[:, 1] + 0.5) / h, rtol=1e-6)
        np.testing.assert_array_equal(mesh.rgb, 0.5)


def test_a_photo_that_is_gone_colours_its_mesh_from_the_network_image(tmp_path):
    (tmp_path / "here.jpg").write_bytes(b"")
    photos = [Photo(str(tmp_path / "here.jpg"), (16, 12), 1, (16, 12), (0, 0, 16, 12)),
              Photo(str(tmp_path / "gone.jpg"), (16, 12), 1, (16, 12), (0, 0, 16, 12))]
    scene = depth_scene([bumpy((16, 12))] * 2, photos, [15.0, 15.0])
    plan = plan_import(scene, ImportOptions(depth_meshes=True, background_images=False))
    assert [m.textured for m in plan.depth_meshes] == [True, False]
    gone = plan.depth_meshes[1]
    u, v = gone.pixels.T
    np.testing.assert_allclose(gone.rgb, scene.colors[1][v, u])
    assert plan.warnings == (f"001 gone depth shows the network image's colours: "
                             f"{photos[1].path} is gone",)


def test_depth_meshes_are_off_by_default_and_independent_of_points_and_cameras():
    scene = step_scene()
    assert plan_import(scene, ImportOptions()).depth_meshes == ()
    plan = plan_import(scene, ImportOptions(depth_meshes=True, points=False, cameras=False))
    assert plan.points is None and plan.cameras == () and len(plan.depth_meshes) == 1


@pytest.mark.parametrize("stride", [0, -1, 1.5, True, None])
def test_a_depth_stride_that_is_not_a_positive_whole_number_is_refused(stride):
    with pytest.raises(Dust3rError, match="Depth stride must be a whole number of pixels, 1 "
                                          "or more"):
        ImportOptions(depth_stride=stride).validate()
    ImportOptions(depth_stride=1).validate()
    ImportOptions(depth_stride=16).validate()
