"""The end-to-end demo: a rendered scene with exact ground truth, reconstructed and compared.

    render    build and render the scene with Cycles (bpy)
    truth     the ground truth it writes: cameras, depth maps (numpy only)
    oracle    a ground-truth stand-in for the network, in the network's output layout
    compare   estimated cameras (and solved tracks) against the truth, after a similarity
    clip      a shot for the camera track: frames from 1001 with per-frame truth (bpy)
    movie     a shot's plate as movie files (PyAV)
    picture   an input image beside the reconstruction seen through its camera
    compat    the Blender differences between 4.2 LTS and 5.0 (file formats, compositor, render log)
    main      the README's demo command (scripts/demo.sh -> python -m demo -> __main__)

Not part of the extension zip (blender_manifest.toml excludes /demo/).
"""
