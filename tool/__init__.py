"""The Blender side's small shared layer: what operators, panels and cli.py all need to
translate between Blender and `core`, as plain functions (no operators, no UI).

    preferences  the add-on's preferences: folders, model choice, dependency status (cached)
    settings     the panel's settings (or cli.py's arguments) -> core.settings.JobParams
    photos       which photos a run uses, and their count for the panel (cached)
    cameras      Blender cameras <-> core cameras; cameras matched to photos as known cameras
"""
