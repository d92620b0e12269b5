"""DUSt3R Photo Reconstruction: Blender extension entry point.

Only register()/unregister() live here, and they import the bpy modules lazily, so that the
package (and its `core` library) imports on plain Python without Blender.
"""


def _blender_modules():
    from . import operators, panels  # bpy-dependent: imported only inside Blender

    return (panels, operators)


def register() -> None:
    for module in _blender_modules():
        module.register()


def unregister() -> None:
    for module in reversed(_blender_modules()):
        module.unregister()
