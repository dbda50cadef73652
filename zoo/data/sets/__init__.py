"""The built-in datasets, one `zoo.data.ImageSet` subclass per file, registered in registry.yaml's
`datasets:` section exactly as a plugin's are in its manifest. The core reaches them only
through the registry (`zoo.data.catalog`); nothing imports them by name."""
