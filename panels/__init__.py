"""Properties, preferences and the sidebar panel; registered in order, unregistered in reverse."""
import bpy

from . import preferences, properties, sidebar

CLASSES = properties.CLASSES + preferences.CLASSES + sidebar.CLASSES


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.register()


def unregister() -> None:
    properties.unregister()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
