"""global_align on synthetic scenes with exact ground truth (tests/align_synthetic.py).

Noise-free scenes pin the conventions: a transposed rotation, swapped x/y, a principal point
half a pixel off or intrinsics mapped the wrong way between photo and network image all
move the cameras by far more than the tolerances used here.
"""
import numpy as np
import pytest

from align_metrics import camera_errors, rotation_deg
from align_synthetic import make_pairwise, make_scene, pixel_colors
from core.settings import AlignSettings
from core.align import global_align
from core.images import Photo

LANDSCAPE, PORTRAIT = (48, 64), (64, 48)


def reprojection_px(scene, truth, k: int) -> float:
    """Max distance (px) between image k's pixels and its true 3-D points projected through
    the aligned camera k, after moving the true world onto the reconstruction's by the
    similarity that maps camera 0 onto camera 0 (scale from the camera centres)."""
    c2w = np.asarray(scene.c2w, np.float64)
    rot = c2w[0, :3, :3] @ truth.c2w[0, :3, :3].T
    s = (np.linalg.norm(c2w[:, :3, 3] - c2w[0, :3, 3], axis=1).sum()
         / np.linalg.norm(truth.c2w[:, :3, 3] - truth.c2w[0, :3, 3], axis=1).sum())
    world = s * (truth.world_points(k) - truth.c2w[0, :3, 3]) @ rot.T + c2w[0, :3, 3]
    w2c = np.linalg.inv(np.asarray(scene.c2w[k], np.float64))
    cam = world @ w2c[:3, :3].T + w2c[:3, 3]
    uv = scene.focals[k] * cam[..., :2] / cam[..., 2:] + scene.pp[k]
    h, w = truth.depth[k].shape
    v, u = np.mgrid[:h, :w]
    return float(np.abs(uv - np.stack([u, v], -1)).max())


def test_noise_free_mixed_portrait_and_landscape_with_off_centre_principal_points():
    shapes = [LANDSCAPE, PORTRAIT, LANDSCAPE, LANDSCAPE, PORTRAIT]
    pp = [(w / 2 + 3.0, h / 2 - 2.0) for h, w in shapes]
    truth = make_scene(5, shapes=shapes, focals=[70, 80, 90, 75, 85], pp=pp, seed=1)
    scene = global_align(make_pairwise(truth, pair_scale=3), known_pp=pp)
    assert isinstance(scene.depthmaps, list) and scene.depthmaps[1].shape == PORTRAIT
    assert scene.pts3d[1].shape == PORTRAIT + (3,)
    np.testing.assert_allclose(scene.pp, pp)
    err = camera_errors(scene.c2w, scene.focals, truth.c2w, truth.focals, scene.depthmaps, truth.depth)
    assert err["rot_deg"] < 0.05 and err["pos_rel"] < 0.002 and err["focal_pct"] < 0.1
    assert err["depth_absrel"] < 0.002
    for k in range(5):
        assert reprojection_px(scene, truth, k) < 0.1


def test_noise_and_confident_outliers_with_six_cameras():
    truth = make_scene(6, focals=[72, 80, 76, 84, 78, 74], seed=2)
    scene = global_align(make_pairwise(truth, noise=0.01, outliers=0.1, pair_scale=3, seed=2))
    err = camera_errors(scene.c2w, scene.focals, truth.c2w, truth.focals)
    assert err["rot_deg"] < 0.3 and err["pos_rel"] < 0.01 and err["focal_pct"] < 0.5
    assert np.all(np.diff(scene.loss_trace[-50:]) < 1e-4)  # settled
    init = camera_errors(scene.init.c2w, scene.init.focals, truth.c2w, truth.focals)
    assert init["rot_deg"] < 1.5  # the robust initialisation already close


def test_shared_focal_is_one_value_for_all_images():
    truth = make_scene(4, focals=[80.0] * 4, seed=3)
    pairwise = make_pairwise(truth, noise=0.02, pair_scale=2, seed=3)
    shared = global_align(pairwise, AlignSettings(niter=150), shared_focal=True)
    assert np.ptp(shared.focals) == 0 and np.ptp(shared.init.focals) == 0
    assert shared.focals[0] == pytest.approx(80.0, rel=0.005)


def test_focals_that_differ_are_recovered_per_image():
    focals = [60.0, 95.0, 75.0, 110.0]
    truth = make_scene(4, focals=focals, seed=4)
    scene = global_align(make_pairwise(truth, noise=0.005, pair_scale=2, seed=4),
                         AlignSettings(niter=150))
    np.testing.assert_allclose(scene.focals, focals, rtol=0.005)


@pytest.mark.parametrize("noise", [0.0, 0.005])
def test_all_poses_known_fix_cameras_and_the_metric_scale(noise):
    truth = make_scene(4, seed=5)
    # every pair at its own random scale: the metric scale can only come from the poses
    scene = global_align(make_pairwise(truth, noise=noise, pair_scale=3, seed=5),
                         AlignSettings(niter=150),
                         known_poses=list(truth.c2w))
    np.testing.assert_allclose(scene.c2w, truth.c2w, atol=1e-6)
    np.testing.assert_allclose(scene.init.c2w, truth.c2w, atol=1e-6)
    for k in range(4):  # no similarity needed; with noise the official loss would shrink it ~1 %
        assert np.median(np.abs(scene.depthmaps[k] / truth.depth[k] - 1)) < 0.002 + noise
        dist = np.linalg.norm(scene.pts3d[k] - truth.world_points(k), axis=-1) / truth.depth[k]
        assert np.median(dist) < 0.002 + 2 * noise


def test_some_known_poses_place_the_others_in_their_frame():
    truth = make_scene(5, seed=6)
    known = {0: truth.c2w[0], 3: truth.c2w[3]}
    scene = global_align(make_pairwise(truth, noise=0.005, pair_scale=3, seed=6), known_poses=known)
    for k in known:
        np.testing.assert_allclose(scene.c2w[k], truth.c2w[k], atol=1e-6)
    spread = np.linalg.norm(truth.c2w[:, :3, 3] - truth.c2w[:, :3, 3].mean(0), axis=1).mean()
    for k in (1, 2, 4):  # directly in the known frame and scale
        assert rotation_deg(scene.c2w[k, :3, :3], truth.c2w[k, :3, :3]) < 0.2
        assert np.linalg.norm(scene.c2w[k, :3, 3] - truth.c2w[k, :3, 3]) < 0.01 * spread


def test_one_known_pose_fixes_the_frame_but_not_the_scale():
    truth = make_scene(4, seed=7)
    scene = global_align(make_pairwise(truth, pair_scale=3, seed=7), known_poses={2: truth.c2w[2]})
    np.testing.assert_allclose(scene.c2w[2], truth.c2w[2], atol=1e-6)
    np.testing.assert_array_less(rotation_deg(scene.c2w[:, :3, :3], truth.c2w[:, :3, :3]), 0.05)
    # the other centres lie on the true ones scaled about camera 2
    offsets = scene.c2w[:, :3, 3] - truth.c2w[2, :3, 3]
    true_offsets = truth.c2w[:, :3, 3] - truth.c2w[2, :3, 3]
    scale = (offsets * true_offsets).sum() / (true_offsets ** 2).sum()
    assert np.abs(offsets - scale * true_offsets).max() < 0.002 * np.abs(true_offsets).max() * scale


def _photo_of(shape, scale=0.4, top=2):
    """A photo that loading resized by `scale` and cropped by `top` rows to the network shape."""
    h, w = shape
    resized = (w, h + 2 * top)
    return Photo("p.jpg", (round(w / scale), round((h + 2 * top) / scale)), 1, resized, (0, top, w, h + top))


def test_known_intrinsics_on_the_original_photo_are_mapped_through_the_crop():
    shapes = [LANDSCAPE, PORTRAIT, LANDSCAPE, LANDSCAPE]
    pp = [(w / 2 - 4.0, h / 2 + 2.5) for h, w in shapes]
    truth = make_scene(4, shapes=shapes, focals=[70, 80, 75, 90], pp=pp, seed=8)
    photos = [_photo_of(s) for s in shapes]
    pairwise = make_pairwise(truth, pair_scale=2, seed=8)
    for view, key in ((pairwise["view1"], "idx"), (pairwise["view2"], "idx")):
        view["photo"] = [photos[i] for i in view[key]]
    on_photo = [photos[k].intrinsics_to_photo(f, np.array(p)) for k, (f, p) in enumerate(zip(truth.focals, pp))]
    scene = global_align(pairwise, known_focals=[f for f, _ in on_photo], known_pp=[p for _, p in on_photo])
    np.testing.assert_allclose(scene.focals, truth.focals, rtol=1e-6)
    np.testing.assert_allclose(scene.pp, pp, atol=1e-4)
    np.testing.assert_allclose(scene.photo_focals, [f for f, _ in on_photo], rtol=1e-6)
    np.testing.assert_allclose(scene.photo_pp, [p for _, p in on_photo], atol=1e-3)
    assert scene.photos == photos
    err = camera_errors(scene.c2w, scene.focals, truth.c2w, truth.focals)
    assert err["rot_deg"] < 0.05 and err["pos_rel"] < 0.002
    for k in range(4):
        assert reprojection_px(scene, truth, k) < 0.1


def test_masks_exclude_pixels_from_the_loss_and_the_cloud():
    truth = make_scene(4, seed=9)
    pairwise = make_pairwise(truth, noise=0.002, pair_scale=2, seed=9)
    bad = np.zeros(LANDSCAPE, bool)
    bad[10:40, 5:45] = True  # a confidently wrong region of image 1 (e.g. a moving object)
    for view, pred, key in (("view1", "pred1", "pts3d"), ("view2", "pred2", "pts3d_in_other_view")):
        for e, k in enumerate(pairwise[view]["idx"]):
            if k == 1:
                pairwise[pred][key][e][bad] *= 1.8
                pairwise[pred]["conf"][e][bad] = 30.0
    masked = global_align(pairwise, AlignSettings(niter=200), masks={1: ~bad})
    err = camera_errors(masked.c2w, masked.focals, truth.c2w, truth.focals)
    assert err["rot_deg"] < 0.1 and err["focal_pct"] < 0.3
    unmasked = camera_errors(*(lambda s: (s.c2w, s.focals))(global_align(pairwise,
                                                                         AlignSettings(niter=200))),
                             truth.c2w, truth.focals)
    assert unmasked["rot_deg"] > 3 * err["rot_deg"]  # the region does matter when not masked
    assert not masked.masks[1][bad].any() and (masked.confidence[1][bad] == 0).all()
    assert masked.masks[1][~bad].mean() > 0.5  # (clean-up drops some noisy pixels elsewhere)
    cloud = masked.point_cloud()
    assert len(cloud) == sum(int(m.sum()) for m in masked.masks)
    assert np.count_nonzero(cloud.image_index == 1) == int(masked.masks[1].sum())


def test_two_images_take_the_pair_viewer_path():
    truth = make_scene(2, focals=[70, 85], arc_deg=30, seed=10)
    scene = global_align(make_pairwise(truth, pair_scale=2, seed=10), AlignSettings(niter=300))
    assert len(scene.loss_trace) == 0  # no optimisation
    np.testing.assert_allclose(scene.focals, [70, 85], rtol=1e-4)
    assert np.allclose(scene.c2w[0], np.eye(4)) or np.allclose(scene.c2w[1], np.eye(4))
    rel = np.linalg.inv(scene.c2w[0]) @ scene.c2w[1]
    true_rel = np.linalg.inv(truth.c2w[0]) @ truth.c2w[1]
    assert rotation_deg(rel[:3, :3], true_rel[:3, :3]) < 0.01
    direction = rel[:3, 3] / np.linalg.norm(rel[:3, 3])
    assert np.degrees(np.arccos(direction @ true_rel[:3, 3] / np.linalg.norm(true_rel[:3, 3]))) < 0.05
    for k in range(2):
        assert reprojection_px(scene, truth, k) < 0.02


def test_one_image_paired_with_itself():
    truth = make_scene(1, focals=[66.0], seed=11)
    pairwise = make_pairwise(truth, [(0, 0), (0, 0)], noise=0.0, pair_scale=1, images=True)
    scene = global_align(pairwise)
    np.testing.assert_allclose(scene.c2w[0], np.eye(4))
    assert scene.focals[0] == pytest.approx(66.0, rel=1e-4)
    np.testing.assert_allclose(scene.pts3d[0], truth.cam_points(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scene.colors[0], pixel_colors(truth, 0), atol=1e-6)
    assert scene.init.focals[0] == scene.focals[0]


def test_colours_follow_their_pixels_into_the_cloud():
    truth = make_scene(3, shapes=[LANDSCAPE, PORTRAIT, LANDSCAPE], seed=12)
    scene = global_align(make_pairwise(truth, images=True, seed=12),
                         AlignSettings(niter=20, clean=False))
    for k in range(3):
        np.testing.assert_allclose(scene.colors[k], pixel_colors(truth, k), atol=1e-6)
    cloud = scene.point_cloud()
    first = cloud.image_index == 1
    v, u = np.nonzero(scene.masks[1])
    np.testing.assert_allclose(cloud.rgb[first], pixel_colors(truth, 1)[v, u], atol=1e-6)
    np.testing.assert_allclose(cloud.xyz[first], scene.pts3d[1][v, u])


def test_pairs_in_one_direction_only():
    # make_pairs(symmetrize=False): image 3 is never first, so it has no point map of its own;
    # its focal and pose come from the PnP on its points as the other cameras predict them
    truth = make_scene(4, focals=[70, 80, 75, 90], seed=13)
    edges = [(i, j) for i in range(4) for j in range(4) if i < j]
    scene = global_align(make_pairwise(truth, edges, noise=0.01, pair_scale=2, seed=13))
    err = camera_errors(scene.c2w, scene.focals, truth.c2w, truth.focals)
    assert err["rot_deg"] < 0.3 and err["pos_rel"] < 0.01 and err["focal_pct"] < 0.5
    assert scene.init.focals[3] == pytest.approx(90, rel=0.01)


def test_two_images_with_a_single_pair_or_known_poses_are_optimised():
    truth = make_scene(2, focals=[70, 80], arc_deg=30, seed=14)
    one_way = global_align(make_pairwise(truth, [(0, 1)], noise=0.005, pair_scale=2, seed=14),
                           AlignSettings(niter=100))
    assert len(one_way.loss_trace) == 100
    np.testing.assert_allclose(one_way.focals, [70, 80], rtol=0.01)
    known = global_align(make_pairwise(truth, noise=0.005, pair_scale=2, seed=14),
                         AlignSettings(niter=100),
                         known_poses=list(truth.c2w))
    assert len(known.loss_trace) == 100
    np.testing.assert_allclose(known.c2w, truth.c2w, atol=1e-6)
    for k in range(2):
        assert np.median(np.abs(known.depthmaps[k] / truth.depth[k] - 1)) < 0.01
