"""Image-to-image translation: the `image-to-image` task, its two-domain datasets and four model files.

Everything here reaches the zoo through this folder's manifest (`zoo.yaml`, its own `zoo.plugins`
entry point) and the zoo's public API; the core names none of it.
"""
