"""A zoo plugin that brings a model family and its own task: DDPM and `denoising-diffusion`.

Importing it is not needed to list them: zoo reads zoo.yaml.
"""
