"""The built-in adversarial objectives, one file each, registered in registry.yaml's `objectives:`."""
