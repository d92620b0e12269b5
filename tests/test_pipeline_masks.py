"""pipeline.run with masks: a confidently wrong region of one photo (a moving object) is kept
out of the cameras and the cloud by its mask; masks are checked before any prediction;
photos without a mask are named in the run's notes. (The rendered proof with a moving object
is tests/blender/test_masks_proof.py.)"""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from test_pipeline import F0, PHOTO, POSES, PlanesPredictor, relative_rotation_deg

from core import pipeline
from core.errors import Dust3rError
from core.settings import JobParams, MaskOptions

REGION = (slice(8, 44), slice(16, 64))  # rows, columns of photo 1 (96x72) that move


class MovedRegionPredictor(PlanesPredictor):
    """The planes, but the region of photo 1 is predicted confidently 1.6x too far in every
    pair (as a network does with an object that moved between the shots)."""

    def camera_rays(self, view):
        rays, depth, c2w = super().camera_rays(view)
        if view["idx"] == 1:
            depth = np.where(in_region(view["photo"]), 1.6 * depth, depth)
        return rays, depth, c2w


def in_region(photo) -> np.ndarray:
    """[H, W] network pixels whose centre lies on a photo pixel of REGION."""
    w, h = photo.network_size
    v, u = np.mgrid[0:h, 0:w]
    x, y = np.rint(photo.pixel_to_photo(np.stack([u, v], -1).astype(float))).astype(int).T
    inside = np.zeros(PHOTO[::-1], bool)
    inside[REGION] = True
    return inside[y.T, x.T]


@pytest.fixture
def photos(tmp_path) -> list[str]:
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    paths = []
    for i in range(len(POSES)):
        path = tmp_path / "photos" / f"view{i}.png"
        Image.fromarray(rng.integers(0, 255, (PHOTO[1], PHOTO[0], 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def mask_folder(tmp_path) -> str:
    """A mask for photo 1 only: black (leave out) over REGION."""
    folder = tmp_path / "masks"
    folder.mkdir()
    keep = np.full(PHOTO[::-1], 255, np.uint8)
    keep[REGION] = 0
    Image.fromarray(keep).save(folder / "view1.png")
    return str(folder)


def run(photos, masks=MaskOptions(), calls=None) -> pipeline.Result:
    params = JobParams(photos=photos, image_size=64, niter=100, masks=masks)
    predictor = MovedRegionPredictor(calls)
    return pipeline.run(params, predictor=predictor)


def worst_rotation_deg(scene) -> float:
    return max(abs(relative_rotation_deg(POSES[0], POSES[i])
                   - relative_rotation_deg(scene.c2w[0], scene.c2w[i])) for i in (1, 2))


@pytest.mark.slow
def test_a_masked_region_takes_no_part_in_the_cameras_or_the_cloud(photos, mask_folder):
    masked = run(photos, MaskOptions(folder=mask_folder))
    unmasked = run(photos)
    scene = masked.scene
    np.testing.assert_allclose(scene.photo_focals, F0, rtol=0.01)
    assert worst_rotation_deg(scene) < 0.1
    # Without the mask the wrong region pulls the cameras off.
    assert worst_rotation_deg(unmasked.scene) > 5 * worst_rotation_deg(scene)
    region = in_region(scene.photo(1))
    assert region.mean() > 0.2
    assert not scene.masks[1][region].any() and (scene.confidence[1][region] == 0).all()
    assert scene.masks[1][~region].mean() > 0.9 and scene.masks[0].mean() > 0.9
    cloud = scene.point_cloud()
    assert np.count_nonzero(cloud.image_index == 1) == int(scene.masks[1][~region].sum())
    assert unmasked.scene.masks[1][region].mean() > 0.9  # there, the region is in the cloud
    # Photos 0 and 2 have no mask: said, not refused.
    assert masked.notes == (f"2 of 3 photos have no mask in {mask_folder} and run unmasked: "
                            "view0.png, view2.png",)
    assert masked.masks == MaskOptions(folder=mask_folder) and unmasked.notes == ()


@pytest.mark.parametrize("problem, message", [
    ("missing folder", "The mask folder .* does not exist"),
    ("no match", "No mask in .* fits any photo"),
    ("empty mask", "The mask .*view1.png leaves no pixel of view1.png"),
    ("wrong aspect", "view1.png is 72x72 but its photo .*view1.png is 96x72"),
    ("unreadable", "Cannot read .*view1.png as an image"),
    ("no alpha", "none of the 3 photos has an alpha channel"),
])
def test_bad_masks_are_refused_before_anything_is_predicted(photos, mask_folder, problem,
                                                            message):
    folder = mask_folder
    mask = f"{folder}/view1.png"
    if problem == "missing folder":
        folder += "-gone"
    elif problem == "no match":
        Image.open(mask).save(f"{folder}/other.png")
        os.remove(mask)
    elif problem == "empty mask":
        Image.new("L", PHOTO, 0).save(mask)
    elif problem == "wrong aspect":
        Image.new("L", (72, 72), 255).save(mask)
    elif problem == "unreadable":
        with open(mask, "w") as f:
            f.write("not a PNG")
    calls = []
    options = MaskOptions(alpha=True) if problem == "no alpha" else MaskOptions(folder=folder)
    with pytest.raises(Dust3rError, match=message):
        run(photos, options, calls)
    assert calls == []  # nothing predicted
