"""Blender classes of this package; registered in order, unregistered in reverse."""
import bpy

CLASSES: tuple = ()


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
