"""An example zoo plugin. Importing it is not needed to list its models: zoo reads zoo.yaml."""
