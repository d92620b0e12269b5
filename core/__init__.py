"""The reconstruction pipeline as a plain torch/numpy library (never imports bpy).

Data flows one way, one module per step:

    images     load photos exactly as the official loader does; keep what the crop did (Photo)
    pairs      scene graphs: which image pairs the network sees
    model      the DUSt3R network (CroCo ViT encoder, two cross-attending decoders, heads)
    weights    configs, checkpoints in every official layout, downloads
    device     which torch device a run uses (auto, cuda, cpu), clear errors when missing
    inference  run the network over all pairs: batching, encoder reuse, precision, cancel
    align      global alignment of the pairwise point maps into one scene
    scene      the Scene result, point-cloud extraction, intrinsics back on the photos
    cameras    OpenCV <-> Blender camera maths (numpy only)
    pipeline   JobParams and run(): photos in, Scene out
    jobs       one background job: thread, progress, cancel (no bpy)
    dependencies  which runtime packages are present; installing the missing ones
    paths      what a user-given path is (a FIFO named x.jpg is refused before it is opened)

Modules import each other relatively so the package works both as `core` (tests, scripts)
and inside the installed extension (`bl_ext.<repo>.<id>.core`).
"""
