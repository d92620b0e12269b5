"""The end-to-end demo: a rendered scene with exact ground truth, reconstructed and compared.

    render   build and render the scene with Cycles (bpy)
    truth    read the ground truth it writes (numpy)
    oracle   a ground-truth stand-in for the network, in the network's output layout
    main     the README's demo command (scripts/demo.sh)

Not part of the extension zip (blender_manifest.toml excludes /demo/).
"""
