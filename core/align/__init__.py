"""Global alignment: the pairwise point maps of the network -> one scene (cameras, depth, points).

    inputs       read and check the `inference()` output, masks
    known        the user's known poses / focals / principal points, in the network frame
    geometry     poses, quaternions, Umeyama, Weiszfeld focal, unprojection
    pnp          camera pose from points and pixels (no OpenCV)
    init         the spanning-tree initialisation
    edge_loss    the loss over all pairs with its hand-written gradient
    optimizer    parameters and the Adam loop
    pair_viewer  one or two images, without optimisation
    clean        removal of floaters seen in front of other cameras' depth
    aligner      global_align(): all of the above -> core.scene.Scene
"""
from ..dependencies import without_triton

with without_triton():
    import roma  # noqa: F401 - roma imports torch._dynamo, which imports triton when present

from .aligner import global_align  # noqa: E402

__all__ = ["global_align"]
